"""The structural-equivalence guard: a page must parse the same before and after its alt edits.

As black compares the AST before and after formatting, `structure_change` compares what a renderer
makes of the old and the new text with every alt value masked: markdown-it's token stream for
Markdown (plus Python-Markdown's HTML where MkDocs renders the page), html.parser's element events
for HTML. Any other difference is reported in one line. Pure: no I/O (docs/rewriting.md).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any

from alttext_tools.rewrite.edits import MARKER_COMMENT

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

# One element of a normalised stream: its kind first, then what must stay equal.
Event = tuple[object, ...]

# The elements whose alt attribute the rewriter writes; their alt is masked.
_ALT_ELEMENTS = frozenset({"img", "input", "area"})
# Elements whose text keeps its white space as written.
_KEEPS_SPACES = frozenset({"pre", "textarea", "script", "style", "listing", "plaintext", "xmp"})
# Elements that end a line of text where they start or end.
_BLOCK_NAMES = """address article aside blockquote body br caption dd details div dl dt figcaption figure footer form
h1 h2 h3 h4 h5 h6 header hr html li main nav ol p pre section summary table tbody td tfoot th thead tr ul"""
_BLOCKS = frozenset(_BLOCK_NAMES.split())
# markdown-it's inline token types (what may follow text within one line of text).
_INLINE_NAMES = """text image em_open em_close strong_open strong_close link_open link_close code_inline softbreak
hardbreak html_inline s_open s_close"""
_INLINE_TOKENS = frozenset(_INLINE_NAMES.split())
# Void elements never get an end tag: they do not open a scope.
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}
)
_SPACES = re.compile(r"[ \t\n\r\f]+")
# Python-Markdown extensions that shape where alt text sits on a MkDocs page (all built in).
PYTHON_MARKDOWN_EXTENSIONS = ("tables", "attr_list", "md_in_html", "fenced_code", "admonition", "def_list", "footnotes")


def structure_change(
    old: str, new: str, kind: str, *, python_markdown: bool = False, extensions: Iterable[str] = ()
) -> str | None:
    """None when `new` reads as `old` does once alt values are masked; else one line saying what
    differs. `kind` is "html" or "markdown" (other kinds are not compared); `python_markdown`: also
    compare Python-Markdown's rendering (the page is built by MkDocs) with the site's `extensions`
    added to the usual ones (those that cannot be loaded here are left out)."""
    if kind == "html":
        return _first_difference("html.parser", html_events(old), html_events(new))
    if kind != "markdown":
        return None
    problem = _markdown_it_difference(old, new, code_blocks=python_markdown)
    if problem is None and python_markdown and _python_markdown_installed():
        problem = _first_difference(
            "Python-Markdown",
            html_events(python_markdown_html(old, extensions)),
            html_events(python_markdown_html(new, extensions)),
        )
    return problem


def _first_difference(reader: str, old: Sequence[Event], new: Sequence[Event]) -> str | None:
    for before, after in zip(old, new):
        if before != after:
            return f"the edit would change how {reader} reads the page ({_show(before)} becomes {_show(after)})"
    if len(old) != len(new):
        longer = old if len(old) > len(new) else new
        what = "loses" if len(old) > len(new) else "gains"
        return f"the edit would change how {reader} reads the page (it {what} {_show(longer[min(len(old), len(new))])})"
    return None


def _show(event: Event) -> str:
    """A short, human description of one event."""
    kind = event[0]
    if kind in ("start", "start/end"):
        attrs = "".join(f" {name}" if value is None else f" {name}={value!r}" for name, value in event[2])  # type: ignore[attr-defined]
        text = f"<{event[1]}{attrs}>"
    elif kind == "end":
        text = f"</{event[1]}>"
    elif kind in ("text", "comment", "declaration", "processing instruction"):
        text = f"{kind} {event[1]!r}"
    elif kind in ("html_block", "html_inline", "markdown", "code_block") and isinstance(event[1], tuple):
        text = f"{kind} " + ", ".join(_show(inner) for inner in event[1][:3])
    elif kind == "image":
        src = [value for name, value in event[1] if name == "src"] if isinstance(event[1], tuple) else []
        text = f"an image of {src[0]!r}" if src else "an image"
    else:  # a markdown-it token: (type, tag, nesting, attrs, markup, info, content)
        text = str(kind) + (f" {event[6]!r}" if event[6] else "")
    return text if len(text) <= 80 else text[:77] + "..."


# --------------------------------------------------------------------------- HTML


class _Events(HTMLParser):
    """html.parser's view of a text as a flat list of events that encodes the element tree.

    Alt attributes of img/input/area and decorative-marker comments are masked. With `markdown`,
    text inside an element carrying a `markdown` attribute (md_in_html) is read as Markdown."""

    def __init__(self, markdown: bool, in_map: bool = False) -> None:
        super().__init__(convert_charrefs=True)
        self.markdown = markdown
        self._outer_map = in_map  # the text sits inside a <map> opened before it
        self.events: list[Event] = []
        self._open: list[tuple[str, bool]] = []  # (tag, holds Markdown)
        self._text: list[str] = []

    def _flush(self) -> None:
        if not self._text:
            return
        text = "".join(self._text)
        self._text = []
        if self.markdown and self._open and self._open[-1][1]:
            self.events.append(("markdown", tuple(markdown_events(text))))
        elif any(tag in _KEEPS_SPACES for tag, _ in self._open):
            self.events.append(("text", text))
        else:  # as a browser shows it: a marker removed with the space before it leaves one space less
            self.events.append(("text", _SPACES.sub(" ", text)))

    def close(self) -> None:
        super().close()
        self._flush()

    def _in_map(self) -> bool:
        return self._outer_map or any(tag == "map" for tag, _ in self._open)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._flush()
        self.events.append(("start", tag, _masked(tag, attrs, self._in_map())))
        if tag not in _VOID:
            inherited = bool(self._open) and self._open[-1][1]
            holds_markdown = any(name == "markdown" and value != "0" for name, value in attrs)
            self._open.append((tag, holds_markdown or inherited))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._flush()
        self.events.append(("start/end", tag, _masked(tag, attrs, self._in_map())))

    def handle_endtag(self, tag: str) -> None:
        self._flush()
        self.events.append(("end", tag))
        for depth in range(len(self._open) - 1, -1, -1):
            if self._open[depth][0] == tag:
                del self._open[depth:]
                break

    def handle_data(self, data: str) -> None:
        self._text.append(data)

    def handle_comment(self, data: str) -> None:
        if MARKER_COMMENT.fullmatch(f"<!--{data}-->"):
            return  # the decorative marker is the rewriter's to add or remove
        self._flush()
        self.events.append(("comment", data))

    def handle_decl(self, decl: str) -> None:
        self._flush()
        self.events.append(("declaration", decl))

    def handle_pi(self, data: str) -> None:
        self._flush()
        self.events.append(("processing instruction", data))

    def unknown_decl(self, data: str) -> None:
        self._flush()
        self.events.append(("declaration", data))


def _masked(tag: str, attrs: list[tuple[str, str | None]], in_map: bool) -> tuple[tuple[str, str | None], ...]:
    """The attributes with the alt left out where the rewriter may write one: an `<area>` only
    counts inside a `<map>` (outside one it is not rendered, so it is no image)."""
    if tag in _ALT_ELEMENTS and (tag != "area" or in_map):
        return tuple((name, value) for name, value in attrs if name != "alt")
    return tuple(attrs)


def html_events(text: str, *, markdown: bool = False, in_map: bool = False) -> list[Event]:
    """The element events of an HTML text (tags with their attributes, text, comments), alt
    values masked. `markdown`: the HTML sits in a Markdown page (md_in_html is read as Markdown).
    `in_map`: the text sits inside a `<map>` opened before it."""
    parser = _Events(markdown, in_map)
    parser.feed(text)
    parser.close()
    return _trim(parser.events, lambda event: event[0] in ("start", "start/end", "end") and event[1] in _BLOCKS)


# --------------------------------------------------------------------------- Markdown


@lru_cache(maxsize=1)
def _markdown_it() -> MarkdownIt:
    return _markdown_it_config()


def _markdown_it_config() -> MarkdownIt:
    """The scanner's reading (CommonMark + tables, links as written). Character references stay as
    written in text: they never change the structure, and it keeps an attr_list one text token."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark").enable("table").disable("entity")
    md.normalizeLink = lambda url: url  # type: ignore[method-assign]
    md.validateLink = lambda url: True  # type: ignore[method-assign]
    return md


@lru_cache(maxsize=1)
def _markdown_it_blocks() -> MarkdownIt:
    """`_markdown_it` that stops at blocks: inline content is parsed on demand."""
    md = _markdown_it_config()
    md.disable("inline")
    return md


def markdown_events(text: str, *, code_blocks: bool = False) -> list[Event]:
    """markdown-it's token stream (type, tag, nesting, attributes, markup, content) with alt values
    masked: an image's label, raw HTML alt attributes, decorative markers, and the attr_list that
    follows an image (`{ width=100 alt="..." }`: its items are the image's attributes, which the
    rewriter's verification compares one by one). `code_blocks`: read the content of indented code
    blocks as Markdown too (on a MkDocs page they are often the body of an admonition or a tab,
    and Python-Markdown's reading, compared as well, shows a real code block as code)."""
    return _joined(_token_events(_markdown_it().parse(text), code_blocks))


def _markdown_it_difference(old: str, new: str, *, code_blocks: bool) -> str | None:
    """`_first_difference` of the two texts' `markdown_events`, computed the cheap way: both are
    parsed into blocks first, and only the inline content that differs is parsed further (the same
    content, with the same link reference definitions, parses the same)."""
    md = _markdown_it_blocks()
    old_env: dict[str, Any] = {}
    new_env: dict[str, Any] = {}
    old_tokens, new_tokens = md.parse(old, old_env), md.parse(new, new_env)
    problem = _first_difference(
        "markdown-it", list(_token_events(old_tokens, code_blocks)), list(_token_events(new_tokens, code_blocks))
    )
    if problem is None and _references(old_env) != _references(new_env):
        problem = "the edit would change the page's link reference definitions"
    if problem is not None:
        return problem
    old_inline = [t for t in old_tokens if t.type == "inline"]
    new_inline = [t for t in new_tokens if t.type == "inline"]
    for before, after in zip(old_inline, new_inline):
        if before.content != after.content:
            problem = _first_difference(
                "markdown-it", _inline_events(before.content, md, old_env), _inline_events(after.content, md, new_env)
            )
            if problem is not None:
                return problem
    return None


def _references(env: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {label: (ref.get("href", ""), ref.get("title", "")) for label, ref in env.get("references", {}).items()}


def _inline_events(content: str, md: MarkdownIt, env: dict[str, Any]) -> list[Event]:
    children: list[Token] = []
    md.inline.parse(content, md, env, children)
    return _joined(_token_events(children, code_blocks=False))


def _joined(events: Iterable[Event]) -> list[Event]:
    """Adjacent text joined and shown as HTML shows it; white space that ends a block dropped."""
    out: list[Event] = []
    for event in events:
        if event[0] == "text" and out and out[-1][0] == "text":
            event = ("text", f"{out[-1][1]}{event[1]}")
            out.pop()
        out.append(event)
    # Text runs as HTML shows them (code spans and blocks are other tokens, compared as written).
    out = [("text", _SPACES.sub(" ", str(e[1]))) if e[0] == "text" else e for e in out]
    # A soft line break shows as white space: white space before it is not shown either.
    return _trim(out, lambda event: event[0] not in _INLINE_TOKENS or event[0] == "softbreak")


def _trim(events: list[Event], ends_text: Callable[[Event], bool]) -> list[Event]:
    """White space at the end of a text run that a block or a soft line break ends is not shown: a
    decorative marker removed with the space before it leaves none."""
    out: list[Event] = []
    for index, event in enumerate(events):
        if event[0] == "text" and (index + 1 == len(events) or ends_text(events[index + 1])):
            text = str(event[1]).rstrip(" \t\n\r\f")
            if not text:
                continue
            event = ("text", text)
        out.append(event)
    return out


def _token_events(tokens: Sequence[Token], code_blocks: bool) -> Iterator[Event]:
    after_image = False
    in_attr_list = False  # inside the attr_list that follows an image (it may hold emphasis etc.)
    in_map = False  # between an inline <map> and its </map>
    for token in tokens:
        if in_attr_list:
            if token.type in ("softbreak", "hardbreak"):
                in_attr_list = False  # an attr_list ends on its own line; this was none
            elif token.type == "text" and "}" in token.content:
                in_attr_list = False
                rest = token.content[token.content.index("}") + 1 :]
                if rest:
                    yield ("text", rest)
                continue
            else:
                continue
        if token.type == "html_inline" and MARKER_COMMENT.fullmatch(token.content.strip()):
            continue
        if after_image and token.type == "text" and token.content.startswith("{"):
            after_image = False
            in_attr_list = True
            rest = token.content[1:]
            if "}" in rest:
                in_attr_list = False
                rest = rest[rest.index("}") + 1 :]
                if rest:
                    yield ("text", rest)
            continue
        after_image = False
        if token.type == "image":
            attrs = tuple(sorted((k, str(v)) for k, v in token.attrs.items() if k != "alt"))
            yield ("image", attrs)
            after_image = True
            continue
        if token.type in ("html_block", "html_inline"):
            tag = token.content.lstrip()[:5].lower()
            if token.type == "html_inline" and tag.startswith("<map") and tag[4:5] in (" ", ">", "\t", "\n", ""):
                in_map = True
            elif token.type == "html_inline" and tag.startswith("</map"):
                in_map = False
            yield (token.type, tuple(html_events(token.content, markdown=True, in_map=in_map)))
            continue
        if token.type in ("text", "text_special"):  # text_special: an escaped character
            yield ("text", token.content)
            continue
        if token.type == "code_block" and code_blocks:
            yield ("code_block", tuple(markdown_events(token.content, code_blocks=True)))
            continue
        content = "" if token.type == "inline" else token.content
        attrs = tuple(sorted((k, str(v)) for k, v in token.attrs.items()))
        yield (token.type, token.tag, token.nesting, attrs, token.markup, token.info, content)
        if token.children:
            yield from _token_events(token.children, code_blocks)


# --------------------------------------------------------------------------- Python-Markdown


def _python_markdown_installed() -> bool:
    """Python-Markdown comes with MkDocs (the `mkdocs` extra); without it that reading is skipped."""
    from importlib.util import find_spec

    return find_spec("markdown") is not None


_PYTHON_MARKDOWN_LOCK = threading.Lock()  # one converter, reset between pages, used by one thread at a time


def python_markdown_html(text: str, extensions: Iterable[str] = ()) -> str:
    """The HTML Python-Markdown (as MkDocs runs it, with `extensions` too) makes of `text`.
    Imported only when needed."""
    with _PYTHON_MARKDOWN_LOCK:
        return str(_python_markdown(frozenset(extensions)).reset().convert(text))


@lru_cache(maxsize=8)
def _python_markdown(extensions: frozenset[str]) -> Any:
    import markdown

    usable = list(PYTHON_MARKDOWN_EXTENSIONS)
    for name in sorted(extensions - set(usable)):
        try:
            markdown.Markdown(extensions=[name])
        except Exception:  # not installed here, or needs settings only the site has: left out
            continue
        usable.append(name)
    return markdown.Markdown(extensions=usable)
