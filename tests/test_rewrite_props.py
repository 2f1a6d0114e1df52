"""Property tests: generated HTML and Markdown documents with images in every form, arbitrary alt
texts (quotes, brackets, backslashes, markup, emoji, RTL, newlines, control characters).

For each: only the decided images' bytes change, the re-scan sees the same images with exactly the
intended alts, independent parsers (html.parser, markdown-it) agree, and a second pass is a no-op.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rewrite_helpers import rendered_alts

from alttext_tools.core import AltKind, Decision, ImageRef
from alttext_tools.rewrite.edits import _MARKER_AFTER, MARKER_COMMENT, rewrite_text
from alttext_tools.rewrite.guard import structure_change
from alttext_tools.scan.dispatch import scan_text
from alttext_tools.text import normalize_alt

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --------------------------------------------------------------------------- alt texts

_TRICKY = [
    *"ab \"'<>&;#[]()\\*_`~|!{}=:/\n\t\r\u2028\u00a0",
    "é",
    "🦊",
    "ש",
    "\u200f",
    "\u202e",
    "\x00",
    "\x1b",
    "\x7f",
    "👩\u200d💻",
]
ALTS = st.one_of(
    st.lists(st.sampled_from(_TRICKY), max_size=25).map("".join),
    st.sampled_from(
        [
            "<script>alert('x')</script>",
            "&amp; &lt; &#x41; &copy",
            "x](evil.png) ![y",
            "\\",
            "a\\",
            "line one\n\nline two",
            "* not a list",
            "# not a heading",
            "~~not struck~~",
            "مرحبا بالعالم، صورة ثعلب",
            "\u202eevil override",
            '" onerror="alert(1)',
            "' onerror='alert(1)",
            "}{ alt=x }",
            "<!-- alttext: decorative -->",
        ]
    ),
    st.text(max_size=20),
)


@st.composite
def decisions(draw: st.DrawFn) -> Decision:
    if draw(st.integers(0, 5)) == 0:
        return Decision.mark_decorative()
    alt = draw(ALTS)
    return Decision.text(alt) if normalize_alt(alt) else Decision.mark_decorative()


# --------------------------------------------------------------------------- HTML documents

_OLD_ALTS = ["old", "", "IMG_0001.png", "a &quot;q&quot; &amp; b", "  ", "image"]


@st.composite
def html_attr(draw: st.DrawFn, name: str, value: str | None) -> str:
    if value is None:
        return name
    safe_unquoted = value and not re.search(r"[\s\"'=<>`]", value)
    quote = draw(st.sampled_from(['"', "'", ""] if safe_unquoted else ['"', "'"]))
    if quote and quote in value:
        quote = '"' if quote == "'" else "'"
    return f"{name}={quote}{value}{quote}"


@st.composite
def html_tag(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["img", "img", "IMG", "input", "area"]))
    upper = kind.isupper()
    attrs: list[tuple[str, str | None]] = []
    if kind == "input":
        attrs.append(("type", "image"))
    if kind == "area":
        attrs.append(("href", "/page"))
    attrs.append(("src", draw(st.sampled_from(["a.png", "b c.png", "x.png?a=1&amp;b=2", "d.png"]))))
    attrs += draw(
        st.lists(
            st.sampled_from(
                [
                    ("width", "640"),
                    ("class", "w-1/2 big"),
                    ("data-x", '{"a": 1}'),
                    ("loading", "lazy"),
                    ("hidden", None),
                ]
            ),
            max_size=3,
            unique=True,
        )
    )
    alt_state = draw(st.sampled_from(["none", "none", "bare", "value"]))
    if alt_state != "none":
        position = draw(st.integers(0, len(attrs)))
        attrs.insert(position, ("alt", None if alt_state == "bare" else draw(st.sampled_from(_OLD_ALTS))))
    written = [draw(html_attr(n.upper() if upper else n, v)) for n, v in attrs]
    layout = draw(st.sampled_from(["spaces", "one-per-line", "mixed"]))
    if layout == "one-per-line":
        indent = draw(st.sampled_from(["  ", "\t", "    "]))
        body = "".join(f"\n{indent}{a}" for a in written) + "\n"
    elif layout == "mixed":
        body = " " + "\n   ".join(" ".join(written[i : i + 2]) for i in range(0, len(written), 2))
    else:
        body = "".join(" " + a for a in written)
    end = draw(st.sampled_from([">", " />", "/>"]))
    return f"<{kind}{body}{end}"


_HTML_FILLER = [
    "<p>Plain text &amp; an entity, caf&eacute;.</p>",
    '<!-- <img src="commented.png"> -->',
    "<script>var s = '<img src=\"s.png\">';</script>",
    "<pre>  keep\tthese   spaces  </pre>",
    '<textarea><img src="t.png"></textarea>',
    "<h2>Heading</h2>",
]


@st.composite
def html_docs(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 5))):
        if draw(st.booleans()):
            parts.append(draw(st.sampled_from(_HTML_FILLER)))
        tag = draw(html_tag())
        if tag.startswith(("<area", "<AREA")):
            parts.append(f'<map name="m">{tag}</map>')
        elif draw(st.booleans()):
            parts.append(f"<p>Text {tag} more text</p>")
        else:
            parts.append(f'<a href="/x">{tag}</a>')
    return "<!doctype html>\n<html><body>\n" + "\n".join(parts) + "\n</body></html>" + draw(st.sampled_from(["\n", ""]))


# --------------------------------------------------------------------------- Markdown documents

_LABELS = [
    "",
    "old",
    "IMG_1.png",
    "a *b* c",
    "with `code`",
    "esc \\] ape",
    "nested [x] y",
    "&amp; ent",
    "two\nlines",
    "snake_case",
]
_REFS = ["r1", "Ref Two"]


@st.composite
def md_image(draw: st.DrawFn) -> str:
    form = draw(st.sampled_from(["inline", "inline", "full", "collapsed", "shortcut", "html"]))
    if form == "html":
        return draw(html_tag()).replace("\n", " ") if draw(st.booleans()) else '<img src="h.png">'
    label = draw(st.sampled_from(_LABELS))
    if form == "inline":
        dest = draw(st.sampled_from(["a.png", "<b c.png>", 'd.png "Title"', "e.png 'T'"]))
        image = f"![{label}]({dest})"
    elif form == "full":
        image = f"![{label}][{draw(st.sampled_from(_REFS))}]"
    else:
        ref = draw(st.sampled_from(_REFS))
        image = f"![{ref}][]" if form == "collapsed" else f"![{ref}]"
    suffix = draw(
        st.sampled_from(
            [
                "",
                "",
                "",
                "{ .wide }",
                '{ alt="photo" }',
                "{: alt=x .c }",
                "<!-- alttext: decorative -->",
                " <!-- alttext: decorative -->",
            ]
        )
    )
    if draw(st.integers(0, 4)) == 0:
        image = f"[{image}](https://example.com)"
        return image
    return image + suffix


@st.composite
def md_docs(draw: st.DrawFn) -> str:
    blocks = ["# Title"]
    for _ in range(draw(st.integers(1, 4))):
        shape = draw(
            st.sampled_from(["paragraph", "paragraph", "list", "quote", "table", "html-block", "code", "setext"])
        )
        images = draw(st.lists(md_image(), min_size=1, max_size=3))
        line = " and ".join(images)
        if shape == "paragraph":
            blocks.append(f"Some *text* {line} here.")
        elif shape == "list":
            blocks.append(f"- item {line}\n- second")
        elif shape == "quote":
            blocks.append(f"> quoted {line}")
        elif shape == "table":
            cells = " | ".join(i.replace("|", "\\|") for i in images)
            header = " | ".join(f"h{k}" for k in range(len(images)))
            blocks.append(f"| {header} |\n|{'---|' * len(images)}\n| {cells} |")
        elif shape == "html-block":
            blocks.append(f'<div align="center">\n  {draw(html_tag()).replace(chr(10), " ")}\n</div>')
        elif shape == "setext":  # a line under an image line: a heading, or a table if the line held a "|"
            blocks.append(f"{line}\n{draw(st.sampled_from(['---', '--', '===', '-', ':--']))}\nNext line {line}")
        else:
            blocks.append(f"```\n{line}\n```")
    blocks.append("[r1]: r1.png\n[ref two]: r2.png 'Two'")
    return "\n\n".join(blocks) + draw(st.sampled_from(["\n", ""]))


# --------------------------------------------------------------------------- the property


def editable(image: ImageRef) -> bool:
    if image.alt_kind is None or image.ignored:
        return False
    if image.is_markdown_syntax:
        return image.alt_span is not None
    return True


def intended(image: ImageRef, decision: Decision | None) -> str | None:
    if decision is None:
        return image.alt
    return "" if decision.decorative else decision.alt


def _regions(text: str, images: list[ImageRef], chosen: set[int]) -> str:
    """`text` with the decided images (and a marker right after them) cut out."""
    out, at = [], 0
    for i, image in enumerate(images):
        if i not in chosen:
            continue
        end = image.span.end
        marker = _MARKER_AFTER.match(text, end)
        if marker:
            end = marker.end()
        out.append(text[at : image.span.start])
        at = end
    out.append(text[at:])
    return "\x00".join(out)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.alts: dict[tuple[int, int], str | None] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("img", "input", "area"):
            values = [v for n, v in attrs if n == "alt"]
            line, column = self.getpos()
            self.alts[(line, column + 1)] = (values[0] or "") if values else None

    handle_startendtag = handle_starttag


def check(text: str, kind: str, data: st.DataObject) -> None:
    newline = data.draw(st.sampled_from(["\n", "\r\n"]), label="newline")
    text = text.replace("\n", newline)
    path = "doc.html" if kind == "html" else "doc.md"
    images = scan_text(text, path, kind)  # type: ignore[arg-type]
    candidates = [i for i, image in enumerate(images) if editable(image)]
    chosen = data.draw(st.lists(st.sampled_from(candidates), unique=True), label="chosen") if candidates else []
    decided = {i: data.draw(decisions(), label=f"decision {i}") for i in chosen}
    pairs = [(images[i], d) for i, d in decided.items()]

    result = rewrite_text(text, path, kind, images, pairs)  # raises VerifyError on any mismatch
    new_text = result.text
    assert all(not re.search(r"[\n\r\t\x00-\x1f\u2028]", d.alt) for d in decided.values())

    # Only the decided images changed: everything around them is identical.
    new_images = scan_text(new_text, path, kind)  # type: ignore[arg-type]
    assert len(new_images) == len(images)
    assert _regions(text, images, set(chosen)) == _regions(new_text, new_images, set(chosen))
    # No newline was written inside an alt value.
    for i in chosen:
        if images[i].alt_kind is not AltKind.HTML_ATTR or "\n" not in images[i].source:
            new_span = new_text[new_images[i].span.start : new_images[i].span.end]
            old_span = text[images[i].span.start : images[i].span.end]
            assert new_span.count("\n") <= old_span.count("\n") + 1

    # The re-scan reads exactly the intended alts, and nothing else moved.
    for i, (old, new) in enumerate(zip(images, new_images)):
        assert (new.syntax, new.src) == (old.syntax, old.src)
        assert new.alt == intended(old, decided.get(i)), (i, old.alt, new.alt)
        if i in decided and decided[i].decorative and new.is_markdown_syntax:
            assert new.decorative_marker

    # Independent parsers agree.
    if kind == "html":
        parsed = _Tags()
        parsed.feed(new_text)
        parsed.close()
        for i in chosen:
            new = new_images[i]
            assert parsed.alts.get((new.line, new.column)) == intended(images[i], decided[i])
    else:
        before, after = rendered_alts(text, "scanner"), rendered_alts(new_text, "scanner")
        md_images = [i for i, image in enumerate(images) if image.is_markdown_syntax]
        assert len(before) == len(after) == len(md_images)
        for k, i in enumerate(md_images):
            if i in decided and images[i].alt_kind is AltKind.MD_LABEL:
                assert after[k] == intended(images[i], decided[i])
            else:
                assert after[k] == before[k]

    # The page reads the same once alt values are masked (markdown-it, html.parser), and to
    # Python-Markdown too, unless a replaced label spanned lines: joining them can make a setext
    # underline apply to Python-Markdown's one-line heading (the guard then refuses the file).
    assert structure_change(text, new_text, kind) is None
    joined = any((span := images[i].alt_span) is not None and "\n" in text[span.start : span.end] for i in chosen)
    if not joined:
        assert structure_change(text, new_text, kind, python_markdown=True) is None

    # Idempotent: the same decisions on the output change nothing.
    again = rewrite_text(new_text, path, kind, new_images, [(new_images[i], d) for i, d in decided.items()])
    assert again.edits == () and again.text == new_text


@SETTINGS
@given(doc=html_docs(), data=st.data())
def test_html_documents(doc: str, data: st.DataObject) -> None:
    check(doc, "html", data)


@SETTINGS
@given(doc=md_docs(), data=st.data())
def test_markdown_documents(doc: str, data: st.DataObject) -> None:
    check(doc, "markdown", data)


@settings(max_examples=150, deadline=None)
@given(alt=ALTS)
def test_markdown_label_escaping_round_trips(alt: str) -> None:
    from alttext_tools.rewrite.edits import escape_md_label

    value = normalize_alt(alt)
    for preset in ("commonmark", "gfm"):
        assert rendered_alts(f"![{escape_md_label(value)}](x.png)\n", preset) == [value]
        assert rendered_alts(f"| h |\n|---|\n| ![{escape_md_label(value)}](x.png) |\n", preset) == [value]


# --------------------------------------------------------------------------- the guard sees other changes

# Inserted outside every image: each changes what a reader makes of the page, or nothing at all.
# (White space alone is left to Markdown: in HTML text the guard reads runs of it as one space.)
_MUTATIONS = ["|", "\n---\n", "`", "*", "x", "\n\n# h\n", "<b>", "](y)", "\\", "&amp;", "<!-- c -->"]


def _unmasked_markdown(text: str) -> list[tuple[object, ...]]:
    """markdown-it's full token stream, alts included (an independent reading). Raw HTML is read
    as a browser reads it: `<area href\n ="x">` and `<area href="x">` are the same element."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark").enable("table")
    out: list[tuple[object, ...]] = []

    def content(t: Any) -> object:
        if t.type == "inline":
            return ""
        return _unmasked_html(t.content) if t.type in ("html_inline", "html_block") else t.content

    def walk(tokens: list) -> None:  # type: ignore[type-arg]
        for t in tokens:
            if t.type == "html_inline" and MARKER_COMMENT.fullmatch(t.content.strip()):
                continue  # the tool's own marker renders nothing, and fix writes and moves it
            out.append((t.type, t.tag, t.nesting, sorted(t.attrs.items()), content(t)))
            if t.children:
                walk(t.children)

    walk(md.parse(text))
    return out


class _AllEvents(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.events: list[tuple[object, ...]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.events.append(("start", tag, attrs))

    def handle_endtag(self, tag: str) -> None:
        self.events.append(("end", tag))

    def handle_data(self, data: str) -> None:
        self.events.append(("data", data))

    def handle_comment(self, data: str) -> None:
        self.events.append(("comment", data))


def _unmasked_html(text: str) -> list[tuple[object, ...]]:
    parser = _AllEvents()
    parser.feed(text)
    parser.close()
    merged: list[tuple[object, ...]] = []
    for event in parser.events:  # html.parser may split one run of text in several calls
        if event[0] == "data" and merged and merged[-1][0] == "data":
            merged[-1] = ("data", str(merged[-1][1]) + str(event[1]))
        else:
            merged.append(event)
    return merged


def mutation_is_seen(text: str, kind: str, data: st.DataObject) -> None:
    path = "doc.html" if kind == "html" else "doc.md"
    images = scan_text(text, path, kind)  # type: ignore[arg-type]
    taken = []
    for image in images:
        end = image.span.end
        marker = _MARKER_AFTER.match(text, end)
        taken.append((image.span.start, marker.end() if marker else end))
    free = [i for i in range(len(text) + 1) if not any(a <= i <= b for a, b in taken)]
    at = data.draw(st.sampled_from(free), label="at")
    mutations = _MUTATIONS if kind == "html" else [*_MUTATIONS, "\n    "]
    mutated = text[:at] + data.draw(st.sampled_from(mutations), label="inserted") + text[at:]
    reading = _unmasked_html if kind == "html" else _unmasked_markdown
    if reading(text) != reading(mutated):
        assert structure_change(text, mutated, kind) is not None


@SETTINGS
@given(doc=md_docs(), data=st.data())
def test_guard_sees_markdown_changes_outside_alt(doc: str, data: st.DataObject) -> None:
    mutation_is_seen(doc, "markdown", data)


@SETTINGS
@given(doc=html_docs(), data=st.data())
def test_guard_sees_html_changes_outside_alt(doc: str, data: st.DataObject) -> None:
    mutation_is_seen(doc, "html", data)
