"""Reading video: the container opened over our own reader (container), how its timestamps map
onto offsets (timeline), how many threads decode (threads), and one forward walk over sorted
targets that finds the frame a player shows at each (walk). One frame is a walk of one."""

from __future__ import annotations

from .walk import Found, Video

__all__ = ["Found", "Video"]
