from ._tool import TOOL
