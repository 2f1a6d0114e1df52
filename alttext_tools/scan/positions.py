"""Offsets <-> 1-based line/column in a decoded text. Lines end at "\n" (CRLF counts once)."""

from __future__ import annotations

from bisect import bisect_right


class LineIndex:
    """Maps character offsets to lines and back in O(log n)."""

    def __init__(self, text: str) -> None:
        starts = [0]
        find = text.find
        pos = find("\n")
        while pos != -1:
            starts.append(pos + 1)
            pos = find("\n", pos + 1)
        self.starts = starts

    def line_col(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of `offset`; the column counts characters, as editors do."""
        line = bisect_right(self.starts, offset) - 1
        return line + 1, offset - self.starts[line] + 1

    def offset(self, line: int, column: int) -> int:
        """Offset of a 1-based line and a 0-based column (the convention of html.parser's getpos)."""
        return self.starts[line - 1] + column


def shorten(snippet: str, limit: int = 80) -> str:
    """One-line display form of an element as written."""
    flat = " ".join(snippet.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
