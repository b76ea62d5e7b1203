from ._tool import TOOL

__all__ = ["TOOL"]
