"""Offsets <-> 1-based line/column in a decoded text. Lines end at "\n" (CRLF counts once)."""

from __future__ import annotations

from bisect import bisect_right
from itertools import accumulate


class LineIndex:
    """Maps character offsets to lines and back in O(log n)."""

    def __init__(self, text: str) -> None:
        starts = [0]
        starts.extend(accumulate(len(line) + 1 for line in text.split("\n")))
        starts.pop()  # the end of the last line starts no line
        self.starts = starts

    def line_col(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of `offset`; the column counts characters, as editors do."""
        line = bisect_right(self.starts, offset) - 1
        return line + 1, offset - self.starts[line] + 1

    def offset(self, line: int, column: int) -> int:
        """Offset of a 1-based line and a 0-based column (the convention of html.parser's getpos)."""
        return self.starts[line - 1] + column


class LineCounter:
    """1-based (line, column) of offsets asked for mostly in increasing order, without indexing every
    line: counts the newlines between one offset and the next (C speed), so a page with a few
    images costs a few scans of its text instead of one Python step per line."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._offset = 0  # the last offset asked for, and its line
        self._line = 1

    def line_col(self, offset: int) -> tuple[int, int]:
        text = self.text
        if offset < self._offset:
            self._offset, self._line = 0, 1
        self._line += text.count("\n", self._offset, offset)
        self._offset = offset
        return self._line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def shorten(snippet: str, limit: int = 80) -> str:
    """One-line display form of an element as written."""
    flat = " ".join(snippet.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
