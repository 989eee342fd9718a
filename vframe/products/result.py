"""What a product gives back: the bytes, their media type and size, and the frames they show."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction


@dataclass(frozen=True)
class Tile:
    """One tile of a sprite sheet: where it is, which frame it shows and which moments it stands for."""

    x: int
    y: int
    width: int
    height: int
    page: int
    time: Fraction | None  # the frame's own time (None where the product did not decode it: a vtt)
    start: Fraction  # the sample time, seconds
    end: Fraction  # when the next tile starts, or the span ends


@dataclass(frozen=True)
class Result:
    """Encoded bytes: a frame's image, a sheet's, or a storyboard's text."""

    data: bytes
    media_type: str
    width: int  # pixels (0 for text)
    height: int
    times: tuple[Fraction, ...]  # the frames' own times, seconds from the start of the stream: one per tile or
    # preview frame
    tiles: tuple[Tile, ...] = ()  # a sheet's or storyboard's tiles
    animated: bool = False  # an animation: `times` are its moments' frames
    seconds: dict[str, float] = field(default_factory=dict, compare=False)  # wall time per step: open, decode, encode

    @property
    def time(self) -> Fraction | None:
        """The frame's time (a sheet's first tile's)."""
        return self.times[0] if self.times else None

    @property
    def time_header(self) -> str | None:
        """The frame's time as X-Vframe-Time gives it: seconds with 3 decimals."""
        return None if self.time is None else f"{float(self.time):.3f}"

    @property
    def described(self) -> tuple[str, str, str]:
        """What the response says of the frames, as (access-log field, header, value): which frame
        a frame shows (X-Vframe-Time), how many tiles a sheet or storyboard has (X-Vframe-Tiles),
        how many frames a preview samples (X-Vframe-Frames)."""
        if self.tiles:
            return "tiles", "X-Vframe-Tiles", str(len(self.tiles))
        if self.animated:
            return "frames", "X-Vframe-Frames", str(len(self.times))
        return "frame", "X-Vframe-Time", self.time_header or ""
