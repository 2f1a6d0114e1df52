"""Inline suppression comments (`<!-- alttext-disable-next-line missing-alt -->`, `.. alttext-disable`,
MyST `% alttext-enable`): where a file's text holds them, and which findings they silence.

Pure functions over a decoded text, applied after the rules by every front end (`check`, `fix`,
`review`, the MkDocs plugin, the Sphinx extension). A text without `alttext-` in it costs one
substring search. Comments inside code (Markdown fences, indented code and code spans, reST literal
blocks and code directives, HTML `<script>`/`<style>`/`<textarea>`/`<title>`) are text, not
directives. Grammar and semantics: docs/checking.md.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from typing import TYPE_CHECKING

from alttext_tools.check.rules import RULES
from alttext_tools.core import Finding
from alttext_tools.scan.dialects import Dialect
from alttext_tools.scan.positions import LineIndex

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

GATE = "alttext-"
ACTIONS = ("disable-next-line", "disable-line", "disable", "enable")
# Comments of this tool that are not suppression directives (scan/markdown.py and scan/rst.py read them).
_OTHER_DIRECTIVES = ("ignore", "ignore-file")
# A comment body: `alttext-ACTION [RULE[,| ]RULE...] [-- reason]`. An unknown action is reported.
_BODY = re.compile(r"\s*alttext-([a-z][a-z-]*)(?=[\s,]|\Z)(.*)\Z", re.DOTALL)
_REASON = re.compile(r"(?:\A|\s)--(?:\s|\Z)")
# In Markdown a "<!--" can be text (in code) that no "-->" closes: a comment never spans another "<!--".
_HTML_COMMENT = re.compile(r"<!--((?:(?!<!--).)*?)-->", re.DOTALL)
# HTML: a comment, or an element whose content is text (a "<!--" there starts no comment).
_HTML_TOKEN = re.compile(
    r"<!--(.*?)-->|<(script|style|textarea|title|xmp)(?=[\s/>])[^>]*>.*?</\2\s*>", re.DOTALL | re.IGNORECASE
)
_MYST_COMMENT = re.compile(r"^[ \t]*%(.*)$", re.MULTILINE)
_RST_COMMENT = re.compile(r"^([ \t]*)\.\.[ \t]+(alttext-.*)$", re.MULTILINE)
_RST_DIRECTIVE = re.compile(r"\.\.[ \t]+([\w:.+-]+)[ \t]*::")
# reST directives whose body is not reStructuredText: a comment there is text.
_RST_LITERAL_DIRECTIVES = frozenset(
    {
        "code",
        "code-block",
        "sourcecode",
        "literalinclude",
        "parsed-literal",
        "raw",
        "math",
        "highlight",
        "doctest",
        "testcode",
        "testoutput",
        "testsetup",
        "testcleanup",
        "ipython",
        "jupyter-execute",
        "productionlist",
        "csv-table",
    }
)


@dataclass(frozen=True)
class Directive:
    """One suppression comment: what it does, to which rules (None: every rule), where it is."""

    action: str  # one of ACTIONS
    rules: frozenset[str] | None
    start: int  # offsets of the comment in the text
    end: int
    line: int  # 1-based lines of its first and last character
    end_line: int


@dataclass(frozen=True)
class DirectiveWarning:
    """A malformed directive: an unknown action or rule id. Prints as `path:line: message`."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass(frozen=True)
class Suppressions:
    """The directives of one text, and a warning for each one that is malformed."""

    directives: tuple[Directive, ...] = ()
    warnings: tuple[DirectiveWarning, ...] = ()

    def filter(self, findings: Sequence[Finding]) -> list[Finding]:
        """The findings that no directive silences, in their order."""
        if not self.directives:
            return list(findings)
        return [f for f in findings if not self.silences(f)]

    def silences(self, finding: Finding) -> bool:
        return bool(self.directives) and self._silencer.silences(finding)

    @cached_property
    def _silencer(self) -> _Silencer:
        return _Silencer(self.directives)


NONE = Suppressions()


def apply_inline_config(
    findings: Sequence[Finding], text: str, kind: str, path: str, dialect: Dialect | None = None
) -> tuple[list[Finding], list[DirectiveWarning]]:
    """(the findings no directive in `text` silences, a warning per malformed directive).
    `kind` is the text's syntax (scan.dispatch.Kind); Markdown is read in `dialect`."""
    found = find_directives(text, kind, path, dialect)
    return found.filter(findings), list(found.warnings)


def may_hold_directives(data: bytes) -> bool:
    """False when a file of these bytes cannot hold a directive in any encoding it may be read in
    (ASCII-compatible ones spell `alttext-` as these bytes; UTF-16/32 text has NUL bytes)."""
    return GATE.encode() in data or b"\0" in data


def find_directives(text: str, kind: str, path: str, dialect: Dialect | None = None) -> Suppressions:
    """Every suppression directive in `text` (of syntax `kind`), in source order. Pure: no I/O."""
    if GATE not in text:
        return NONE
    lines = LineIndex(text)
    comments: Iterable[tuple[int, int, str]]
    if kind == "html":
        comments = _html_comments(text)
    elif kind == "rst":
        comments = _rst_comments(text)
    else:
        myst = kind == "myst" or (dialect is not None and dialect.name == "myst")
        comments = _markdown_comments(text, lines, dialect, myst)
    directives: list[Directive] = []
    warnings: list[DirectiveWarning] = []
    for start, end, body in comments:
        match = _BODY.match(body)
        if match is None:
            continue
        action, rest = match.group(1), match.group(2)
        line = lines.line_col(start)[0]
        if action in _OTHER_DIRECTIVES:
            continue
        if action not in ACTIONS:
            known_actions = ", ".join("alttext-" + a for a in ACTIONS)
            warnings.append(
                DirectiveWarning(path, line, f"unknown directive 'alttext-{action}' (known: {known_actions}); ignored")
            )
            continue
        reason = _REASON.search(rest)
        names = [name for name in re.split(r"[\s,]+", rest[: reason.start()] if reason else rest) if name]
        unknown = [name for name in names if name not in RULES]
        if unknown:
            outcome = "the others apply" if len(unknown) < len(names) else "ignored"
            warnings.append(
                DirectiveWarning(
                    path,
                    line,
                    f"unknown rule {', '.join(repr(n) for n in unknown)} in alttext-{action} "
                    f"(known: {', '.join(RULES)}); {outcome}",
                )
            )
        known = frozenset(name for name in names if name in RULES)
        if names and not known:
            continue  # only misspelt rules: silencing every rule instead would hide real problems
        end_line = lines.line_col(max(start, end - 1))[0]
        directives.append(Directive(action, known or None, start, end, line, end_line))
    return Suppressions(tuple(directives), tuple(warnings))


class _Silencer:
    """Answers `silences(finding)` for one text's directives: line directives by the image's line,
    disable/enable ranges by its offset."""

    def __init__(self, directives: Sequence[Directive]) -> None:
        self.by_line: dict[int, list[frozenset[str] | None]] = {}
        self.changes: list[int] = [0]  # offsets where the disabled set changes
        self.states: list[frozenset[str]] = [frozenset()]
        everything = frozenset(RULES)
        state: frozenset[str] = frozenset()
        for d in directives:
            if d.action == "disable-next-line":
                self.by_line.setdefault(d.end_line + 1, []).append(d.rules)
            elif d.action == "disable-line":
                for line in range(d.line, d.end_line + 1):
                    self.by_line.setdefault(line, []).append(d.rules)
            else:
                rules = everything if d.rules is None else d.rules
                state = state | rules if d.action == "disable" else state - rules
                self.changes.append(d.end)
                self.states.append(state)

    def silences(self, finding: Finding) -> bool:
        image = finding.image
        for rules in self.by_line.get(image.line, ()):
            if rules is None or finding.rule in rules:
                return True
        return finding.rule in self.states[bisect_right(self.changes, image.span.start) - 1]


# --------------------------------------------------------------------------- HTML


def _html_comments(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group(1)) for m in _HTML_TOKEN.finditer(text) if m.group(1) is not None]


# --------------------------------------------------------------------------- reStructuredText


def _rst_comments(text: str) -> list[tuple[int, int, str]]:
    """`.. alttext-...` comments (with their indented continuation lines) outside literal blocks,
    code directives and other comments."""
    found = []
    lines = text.split("\n")
    starts = LineIndex(text).starts
    for match in _RST_COMMENT.finditer(text):
        indent = _indent(match.group(1))
        first = bisect_right(starts, match.start()) - 1
        if _rst_literal(lines, first, indent):
            continue
        body, last = [match.group(2)], first
        while last + 1 < len(lines) and lines[last + 1].strip() and _indent(lines[last + 1]) > indent:
            last += 1
            body.append(lines[last].strip())
        end = starts[last] + len(lines[last].rstrip("\r"))
        found.append((match.start() + len(match.group(1)), end, " ".join(body)))
    return found


def _indent(line: str) -> int:
    expanded = line.expandtabs(8)
    return len(expanded) - len(expanded.lstrip())


def _rst_literal(lines: list[str], index: int, indent: int) -> bool:
    """Whether line `index` (indented `indent`) lies in a literal block, a code directive or
    another comment: the blocks that hold it (the nearest less indented lines above) decide."""
    need = indent
    for j in range(index - 1, -1, -1):
        if need == 0:
            return False
        line = lines[j]
        stripped = line.strip()
        if not stripped:
            continue
        own = _indent(line)
        if own >= need:
            continue
        need = own
        if stripped.startswith(".."):
            directive = _RST_DIRECTIVE.match(stripped)
            if directive is None:
                if not re.match(r"\.\.[ \t]+(?:\[|_|\|)", stripped):
                    return True  # the body of a comment
            elif directive.group(1).lower() in _RST_LITERAL_DIRECTIVES:
                return True
        elif stripped.endswith("::"):
            return True  # a paragraph that introduces a literal block
    return False


# --------------------------------------------------------------------------- Markdown


@cache
def _parser(dialect: Dialect | None) -> MarkdownIt:
    """A block and inline parser with the structure of `dialect` (Python-Markdown's for MkDocs),
    to tell HTML comments from code."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark").enable("table")
    if dialect is not None and dialect.python_markdown:
        from alttext_tools.scan.python_markdown import configure

        configure(
            md,
            admonition=dialect.has("admonition"),
            details=dialect.has("pymdownx.details"),
            tabbed=dialect.has("pymdownx.tabbed"),
            footnotes=dialect.has("footnotes"),
            blocks=dialect.blocks,
            md_in_html=dialect.md_in_html,
        )
    return md


def _markdown_comments(text: str, lines: LineIndex, dialect: Dialect | None, myst: bool) -> list[tuple[int, int, str]]:
    """HTML comments that Markdown reads as HTML (in an HTML block, or inline HTML outside code
    spans), and MyST `%` line comments outside code blocks."""
    candidates = [(m.start(), m.end(), m.group(1)) for m in _HTML_COMMENT.finditer(text) if GATE in m.group(1)]
    myst_lines = (
        [(m.start(), m.end(), m.group(1)) for m in _MYST_COMMENT.finditer(text) if GATE in m.group(1)] if myst else []
    )
    if not candidates and not myst_lines:
        return []
    tokens = _parser(None if myst else dialect).parse(text)
    starts = lines.starts

    def offset(line: int) -> int:
        return starts[line] if line < len(starts) else len(text)

    found: list[tuple[int, int, str]] = []
    code: list[tuple[int, int]] = []
    inline: dict[tuple[int, int], list[bool]] = {}  # source range -> is each comment in it HTML?
    for tok in tokens:
        if not tok.map:
            continue
        where = (offset(tok.map[0]), offset(tok.map[1]))
        if tok.type in ("fence", "code_block"):
            code.append(where)
        elif tok.type == "html_block":
            found.extend(c for c in candidates if where[0] <= c[0] < where[1])
        elif tok.type == "inline":
            inline.setdefault(where, []).extend(_inline_comments(tok.children or []))
    for (lo, hi), kinds in inline.items():
        inside = [c for c in candidates if lo <= c[0] < hi]
        found.extend(c for c, is_html in zip(inside, kinds) if is_html)
    found.extend(c for c in myst_lines if not any(lo <= c[0] < hi for lo, hi in code))
    return sorted(set(found))


def _inline_comments(children: list[Token]) -> list[bool]:
    """For each `<!--...-->` written in an inline block, in order: is it inline HTML (else text
    of a code span or an escaped `\\<`)?"""
    kinds: list[bool] = []
    for child in children:
        if child.type == "html_inline":
            kinds.extend(True for m in _HTML_COMMENT.finditer(child.content) if GATE in m.group(1))
        elif child.children:
            kinds.extend(_inline_comments(child.children))
        else:
            kinds.extend(False for m in _HTML_COMMENT.finditer(child.content) if GATE in m.group(1))
    return kinds
