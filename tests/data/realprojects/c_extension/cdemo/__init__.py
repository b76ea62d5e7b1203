from ._speed import add

__all__ = ["add"]
