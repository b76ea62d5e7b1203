"""Frame a message in ASCII art."""

from __future__ import annotations

__all__ = ["frame"]


def frame(message: str, border: str = "+-|", padding: int = 1) -> str:
    """Return ``message`` (one or more lines) inside an ASCII box.

    ``border`` gives the corner, horizontal and vertical characters; ``padding`` the spaces on each side.
    """
    if len(border) != 3:
        raise ValueError("border must be three characters: corner, horizontal, vertical")
    if padding < 0:
        raise ValueError("padding must not be negative")
    corner, horizontal, vertical = border
    lines = message.splitlines() or [""]
    width = max(len(line) for line in lines)
    pad = " " * padding
    edge = corner + horizontal * (width + 2 * padding) + corner
    body = [f"{vertical}{pad}{line.ljust(width)}{pad}{vertical}" for line in lines]
    return "\n".join([edge, *body, edge])
