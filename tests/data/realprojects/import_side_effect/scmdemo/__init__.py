from ._version import version as __version__

__all__ = ["__version__"]
