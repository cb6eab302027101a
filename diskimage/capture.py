"""The regions of a streamed image that the inspector keeps, and reads over them.

``ImageInspector`` sees every byte once, in order, and keeps only the first
``HEAD_SIZE`` bytes, the last ``TAIL_SIZE`` bytes and the regions a format's
planner asks for once a header has been read, within ``MAX_CAPTURE`` bytes.
Each format module reads what it needs from a :class:`Capture` and answers
:class:`Findings`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

HEAD_SIZE = 64 * 1024  # always kept: every signature and most headers live here
TAIL_SIZE = 1536  # always kept: VHD footer (512), streamOptimized VMDK footer (1536)
MAX_CAPTURE = 4 * 1024 * 1024  # hard cap on what one inspection keeps in memory
MAX_VIRTUAL_SIZE = 1 << 60  # 1 EiB: anything larger is not a plausible disk
SECTOR = 512


@dataclass
class Findings:
    """One format's reading of the captured bytes."""

    virtual_size: int | None = None
    problems: list[str] = field(default_factory=list)
    details: dict[str, str | int] = field(default_factory=dict)


# -- capture ------------------------------------------------------------------


class Span:
    """A region of the stream to keep, filled as the stream passes it."""

    __slots__ = ("data", "length", "missed", "offset")

    def __init__(self, offset: int, length: int) -> None:
        self.offset = offset
        self.length = length
        self.data = bytearray()
        self.missed = False

    def take(self, pos: int, chunk: memoryview) -> None:
        """Keep what ``chunk`` (which starts at stream offset ``pos``) holds of this span."""
        if self.missed or len(self.data) >= self.length:
            return
        want = self.offset + len(self.data)
        if want < pos:  # the stream went past bytes this span still needed
            self.missed = True
            return
        end = pos + len(chunk)
        if want >= end:
            return
        stop = min(self.offset + self.length, end)
        self.data += chunk[want - pos : stop - pos]


class Capture:
    """The kept regions of one stream, with reads over them."""

    def __init__(self) -> None:
        self.spans: dict[tuple[int, int], Span] = {(0, HEAD_SIZE): Span(0, HEAD_SIZE)}
        self.kept = HEAD_SIZE + TAIL_SIZE
        self.size = 0
        self.tail = b""
        self.over_budget: list[str] = []
        self.planned = False  # True once no further region will be asked for

    @staticmethod
    def _beyond_head(offset: int, length: int) -> tuple[int, int]:
        """The part of a region that the head does not already keep."""
        end = offset + length
        offset = max(offset, HEAD_SIZE)
        return offset, max(0, end - offset)

    def want(self, offset: int, length: int, what: str) -> None:
        """Ask for ``length`` bytes at ``offset`` (no-op when already kept or asked)."""
        key = self._beyond_head(offset, length)
        offset, length = key
        if key in self.spans or length <= 0:
            return
        if self.kept + length > MAX_CAPTURE:
            msg = f"{what} ({length} bytes at offset {offset}) is too large to inspect"
            if msg not in self.over_budget:
                self.over_budget.append(msg)
            return
        self.kept += length
        self.spans[key] = Span(offset, length)

    def missed(self, offset: int, length: int) -> bool:
        """True when the stream went past part of a region before it was asked for."""
        span = self.spans.get(self._beyond_head(offset, length))
        return span is not None and span.missed

    def ready(self, offset: int, length: int) -> bool:
        """True when the kept regions hold all of a region (cheaper than ``read``)."""
        if offset + length <= len(self.spans[(0, HEAD_SIZE)].data):
            return True
        span = self.spans.get(self._beyond_head(offset, length))
        return span is not None and len(span.data) == span.length

    @property
    def head_done(self) -> bool:
        return len(self.spans[(0, HEAD_SIZE)].data) == HEAD_SIZE

    def read(self, offset: int, length: int) -> bytes | None:
        """``length`` bytes at ``offset`` if the kept regions hold all of them."""
        out = bytearray()
        pos = offset
        while len(out) < length:
            for span in self.spans.values():
                if span.offset <= pos < span.offset + len(span.data):
                    start = pos - span.offset
                    piece = span.data[start : start + length - len(out)]
                    out += piece
                    pos += len(piece)
                    break
            else:
                return None
        return bytes(out)

    def head(self, length: int = HEAD_SIZE) -> bytes:
        """The first ``length`` bytes that have arrived (fewer for a short stream)."""
        return bytes(self.spans[(0, HEAD_SIZE)].data[:length])

    def footer(self, from_end: int, length: int) -> bytes | None:
        """``length`` bytes starting ``from_end`` bytes before the end of the stream."""
        if from_end > len(self.tail) or from_end > self.size:
            return None
        start = len(self.tail) - from_end
        return self.tail[start : start + length]


def unpack(fmt: str, data: bytes, offset: int = 0) -> tuple[int, ...]:
    return struct.unpack_from(fmt, data, offset)


def uint(fmt: str, data: bytes, offset: int = 0) -> int:
    value: int = struct.unpack_from(fmt, data, offset)[0]
    return value


def truncated(name: str, cap: Capture) -> str:
    return f"the {name} header is truncated (the image is only {cap.size} bytes)"

def dedupe(f: Findings) -> Findings:
    f.problems = list(dict.fromkeys(f.problems))
    return f


def header(cap: Capture, length: int, name: str, f: Findings) -> bytes | None:
    """The first ``length`` bytes, or None with a "truncated" problem added to ``f``."""
    h = cap.read(0, length)
    if h is None:
        f.problems.append(truncated(name, cap))
    return h
