from ._six import SIX

__all__ = ["SIX"]
