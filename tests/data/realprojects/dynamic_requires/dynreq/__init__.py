from ._six import SIX
