"""The limits of one request, checked in one place: source bytes, frame pixels, frames decoded, time,
output bytes. (A decode worker's memory is capped by the worker itself: vframe/workers.py.)"""

from __future__ import annotations

import time

from .errors import ProcessingFailed, TooLarge, UpstreamTimeout
from .settings import Settings


def check_source_size(size: int, settings: Settings) -> None:
    if size > settings.max_source_bytes:
        raise TooLarge(f"The video is {size} bytes, more than this server opens ({settings.max_source_bytes}).")


def check_output_bytes(size: int, settings: Settings) -> None:
    if size > settings.max_output_bytes:
        raise TooLarge(
            f"The image is {size} bytes, more than this server returns ({settings.max_output_bytes}): "
            "ask for a smaller size or another format."
        )


def check_frame_pixels(width: int, height: int, settings: Settings) -> None:
    if width * height > settings.max_frame_pixels:
        raise TooLarge(
            f"The video's frames are {width}x{height}, more than this server decodes "
            f"({settings.max_frame_pixels} pixels a frame)."
        )


class Budget:
    """What one request may still spend: wall time until its deadline and frames to decode."""

    def __init__(self, settings: Settings, started: float | None = None) -> None:
        self.deadline = (time.monotonic() if started is None else started) + settings.deadline_seconds
        self.seconds = settings.deadline_seconds
        self.frames_left = settings.max_decoded_frames
        self.max_frames = settings.max_decoded_frames
        self.fetch_bytes_left = settings.max_fetch_bytes
        self.max_fetch_bytes = settings.max_fetch_bytes
        self.fetch_seconds = 0.0  # spent waiting for an origin or S3
        self.steps: dict[str, float] = {}  # wall time spent in each step (open, decode, encode), for metrics
        self._last_lap = time.perf_counter()

    def lap(self, step: str) -> None:
        """The time since the last lap counts as `step`'s."""
        now = time.perf_counter()
        self.steps[step] = self.steps.get(step, 0.0) + now - self._last_lap
        self._last_lap = now

    def check_fetch_time(self) -> None:
        """While fetching from an origin, the deadline is the origin's fault: 504, not 599."""
        if time.monotonic() > self.deadline:
            raise UpstreamTimeout(
                f"The video's origin was too slow: reading it ran past the deadline of {self.seconds:g} seconds."
            )

    def spend_fetch_bytes(self, count: int) -> None:
        self.fetch_bytes_left -= count
        if self.fetch_bytes_left < 0:
            raise TooLarge(
                f"Reaching this frame needs more of the video than this server fetches ({self.max_fetch_bytes} bytes)."
            )

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            if self.fetch_seconds > self.seconds / 2:  # most of the time went waiting for the origin
                self.check_fetch_time()
            raise ProcessingFailed(f"Making this frame ran past the deadline of {self.seconds:g} seconds.")

    def spend_frame(self) -> None:
        self.frames_left -= 1
        if self.frames_left < 0:
            raise TooLarge(
                f"Reaching this frame needs more decoding than this server allows ({self.max_frames} frames)."
            )
