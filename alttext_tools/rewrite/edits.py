"""Minimal, byte-exact edits of alt values: escape, plan, apply back to front, re-scan and verify.

Pure: no I/O. Only alt values change; the result is refused unless a re-scan finds exactly the
intended alt values and a second pass would change nothing (docs/rewriting.md).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from alttext_tools.check.rules import is_fixable
from alttext_tools.core import AltKind, Decision, Finding, ImageKey, ImageRef, Span, Syntax, image_key
from alttext_tools.errors import AltTextError
from alttext_tools.rewrite.options import OptionEditError, plan_option_edit
from alttext_tools.scan.dialects import Dialect
from alttext_tools.scan.dispatch import Kind, scan_text
from alttext_tools.scan.html_tag import StartTag, parse_start_tag
from alttext_tools.text import encodable

# The project's decorative marker for Markdown images: an empty label followed by this comment.
# Plain CommonMark (and Python-Markdown) pass the comment through harmlessly, unlike `{ alt="" }`,
# which only works where attr_list is enabled; images that already have an attr_list get alt=""
# there instead. The Markdown scanner recognises both.
DECORATIVE_MARKER = "<!-- alttext: decorative -->"
# The marker comment as the scanner reads it (spacing and case tolerant).
MARKER_COMMENT = re.compile(r"<!--[ \t]*alttext:[ \t]*decorative[ \t]*-->", re.IGNORECASE)
# What counts as "a marker is already written right after this image".
_MARKER_AFTER = re.compile(r"[ \t]*" + MARKER_COMMENT.pattern, re.IGNORECASE)

# `&` followed by what CommonMark/HTML would decode as a character reference.
_ENTITY_LIKE = re.compile(r"&(?:#[0-9]{1,7};|#[xX][0-9a-fA-F]{1,6};|[A-Za-z][A-Za-z0-9]{0,31};)")
# Backslash-escaped in Markdown labels: escapes, brackets, emphasis, code spans.
_MD_BACKSLASHED = frozenset("\\[]*_`")
# Written as character references inside an HTML tag in a Markdown page: what Python-Markdown's inline
# patterns that run before it sets raw HTML aside would interpret there (code spans, backslash escapes,
# links and images, arithmatex's `$`), and "|", which would end a table cell.
_MD_HTML_REFS = {ch: f"&#{ord(ch)};" for ch in "`\\[]$*_|"}


# The file's codec, or, for a guessed one, every codec the file could be in (`SourceText.candidates`).
Encoding = str | tuple[str, ...]


class RewriteError(AltTextError):
    """An edit that cannot be made safely. The message is one line for the user."""


class OverlapError(RewriteError):
    """Two edits touch the same text."""


class VerifyError(RewriteError):
    """The re-scanned result is not what the edits intended; nothing may be written."""


@dataclass(frozen=True)
class Edit:
    """Replace text[start:end] with `text` (start == end: an insertion)."""

    start: int
    end: int
    text: str

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.end:
            raise ValueError(f"bad edit range {self.start}..{self.end}")


def _char_ref(ch: str, encoding: Encoding) -> str | None:
    """A numeric character reference for a character the file's encoding cannot hold, or, when the
    encoding was guessed (a tuple of the encodings it could be), one they would not all store alike."""
    if isinstance(encoding, str):
        if encoding.replace("_", "-").lower() in ("utf-8", "utf8") or encodable(ch, encoding):
            return None
    elif all(encodable(ch, name) for name in encoding) and len({ch.encode(name) for name in encoding}) == 1:
        return None
    return f"&#x{ord(ch):X};"


def escape_html_attr(value: str, quote: str, encoding: Encoding = "utf-8", *, in_markdown: bool = False) -> str:
    """`value` as the inside of an HTML attribute value quoted with `quote` ('"' or "'").

    `in_markdown`: the tag sits in a Markdown page, so what a Markdown renderer would still read
    inside it (`` ` ``, `\\`, `[`, `]`, `$`, `*`, `_`) and the "|" that would end a table cell are
    written as numeric character references too."""
    out = []
    for ch in value:
        if in_markdown and ch in _MD_HTML_REFS:
            out.append(_MD_HTML_REFS[ch])
        elif ch == "&":
            out.append("&amp;")
        elif ch == "<":
            out.append("&lt;")
        elif ch == ">":
            out.append("&gt;")
        elif ch == '"' and quote == '"':
            out.append("&quot;")
        elif ch == "'" and quote == "'":
            out.append("&#39;")
        else:
            out.append(_char_ref(ch, encoding) or ch)
    return "".join(out)


def escape_md_label(value: str, encoding: Encoding = "utf-8") -> str:
    """`value` as Markdown image description text that renders back to exactly `value`.

    Only what could be read as syntax is escaped: backslashes, brackets, emphasis, code spans,
    `~~` strikethrough, `<` (autolinks and raw HTML, written `&lt;` so Python-Markdown agrees),
    `&` where it would start an entity, and "|" as `&#124;`: a line holding a "|" (even `\\|`)
    followed by a `---` line is a table to GFM, so a pipe in the label could turn a heading and
    its paragraph into one.
    """
    out = []
    n = len(value)
    for i, ch in enumerate(value):
        if ch in _MD_BACKSLASHED:
            out.append("\\" + ch)
        elif ch == "|":
            out.append("&#124;")
        elif ch == "<":
            out.append("&lt;")
        elif ch == "&" and _ENTITY_LIKE.match(value, i):
            out.append("&amp;")
        elif ch == "~" and ((i > 0 and value[i - 1] == "~") or (i + 1 < n and value[i + 1] == "~")):
            out.append("\\~")
        else:
            out.append(_char_ref(ch, encoding) or ch)
    return "".join(out)


def escape_attr_list(value: str, quote: str, encoding: Encoding = "utf-8") -> str:
    """`value` inside a quoted attr_list value (`{ alt="..." }`): it has no backslash escapes, so
    the quote, `&`, `<`, `>`, `}` (which would end the list), `{` (in a table cell, Python-Markdown's
    attr_list then reads the list as the cell's own), "|" (which would end a table cell) and what
    Python-Markdown's inline patterns would read before attr_list sees the value (code spans, links,
    emphasis: see `escape_html_attr`) become character references."""
    escaped = escape_html_attr(value, quote, encoding, in_markdown=True)
    return escaped.replace("{", "&#123;").replace("}", "&#125;")


def shown(value: str | None, absent: str) -> str:
    """A value for a message: quoted, or `absent` ("no alt", "no src") when there is none."""
    return absent if value is None else repr(value)


# --------------------------------------------------------------------------- planning


def intended_alt(decision: Decision) -> str:
    """The alt value a decision asks for ("" for decorative)."""
    return "" if decision.decorative else decision.alt


def is_satisfied(image: ImageRef, decision: Decision) -> bool:
    """True when the image already carries what the decision asks for: no edit needed."""
    if decision.decorative:
        if image.alt != "":
            return False
        if image.alt_kind is AltKind.MD_LABEL:
            return image.decorative_marker
        return True
    return image.alt == decision.alt and not image.decorative_marker


def plan_edits(
    text: str, decisions: Iterable[tuple[ImageRef, Decision]], *, encoding: Encoding = "utf-8"
) -> list[Edit]:
    """The edits that give each image its decided alt, touching nothing but alt values.

    `encoding` is the file's codec: characters it cannot hold are written as `&#x...;`.
    Images that already match their decision get no edit. Raises RewriteError for an image whose
    syntax has no alt (svg, role=img) or whose source no longer looks like the scanned element.
    """
    edits: list[Edit] = []
    for image, decision in decisions:
        if is_satisfied(image, decision):
            continue
        if image.alt_kind is AltKind.HTML_ATTR:
            edits.append(_html_edit(text, image, intended_alt(decision), encoding, image.in_html_block))
        elif image.alt_kind is AltKind.MD_LABEL:
            edits.extend(_md_label_edits(text, image, decision, encoding))
        elif image.alt_kind is AltKind.MD_ATTR_LIST:
            edits.append(_attr_list_edit(text, image, intended_alt(decision), encoding))
        elif image.alt_kind in (AltKind.RST_OPTION, AltKind.MYST_OPTION):
            edits.append(_option_edit(text, image, intended_alt(decision), encoding))
        else:
            raise RewriteError(f"{_where(image)}: {image.syntax.value} has no alt attribute to write")
    return edits


def _where(image: ImageRef) -> str:
    return f"{image.path}:{image.line}:{image.column}"


def _html_edit(text: str, image: ImageRef, value: str, encoding: Encoding, in_markdown: bool) -> Edit:
    def escape(quote: str) -> str:
        return escape_html_attr(value, quote, encoding, in_markdown=in_markdown)

    if text[image.span.start : image.span.start + 1] != "<":
        raise RewriteError(f"{_where(image)}: no tag at the scanned position (file changed?)")
    tag = parse_start_tag(text, image.span.start)
    if not tag.terminated:
        raise RewriteError(f"{_where(image)}: unterminated tag, not editing it")
    alt = tag.attr("alt")
    if alt is None:
        return _html_insert(text, tag, escape)
    if alt.value is None:  # bare `alt`: give it a value, keeping the name as written
        quote = _tag_quote(tag)
        raw_name = text[alt.name_span.start : alt.name_span.end]
        return Edit(alt.name_span.start, alt.name_span.end, f"{raw_name}={quote}{escape(quote)}{quote}")
    assert alt.value_span is not None
    if alt.quote:
        return Edit(alt.value_span.start, alt.value_span.end, escape(alt.quote))
    quote = _tag_quote(tag)  # unquoted: always quote the new value (safe whatever it holds)
    return Edit(alt.value_span.start, alt.value_span.end, quote + escape(quote) + quote)


def _tag_quote(tag: StartTag) -> str:
    """Single quotes when every quoted attribute of the tag uses them, else double."""
    quotes = [a.quote for a in tag.attrs if a.quote]
    return "'" if quotes and all(q == "'" for q in quotes) else '"'


def _attr_end(attr_name_span: Span, value_span: Span | None, quote: str) -> int:
    if value_span is None:
        return attr_name_span.end
    return value_span.end + (1 if quote else 0)


def _html_insert(text: str, tag: StartTag, escape: Callable[[str], str]) -> Edit:
    """` alt="..."` after the last attribute, in the tag's own style (quotes, case, layout)."""
    quote = _tag_quote(tag)
    raw_tag_name = text[tag.name_span.start : tag.name_span.end]
    raw_names = [text[a.name_span.start : a.name_span.end] for a in tag.attrs]
    upper = any(c.isalpha() for c in raw_tag_name) and raw_tag_name.isupper() and all(n.isupper() for n in raw_names)
    attribute = f"{'ALT' if upper else 'alt'}={quote}{escape(quote)}{quote}"
    if not tag.attrs:
        return Edit(tag.name_span.end, tag.name_span.end, " " + attribute)
    ends = [tag.name_span.end] + [_attr_end(a.name_span, a.value_span, a.quote) for a in tag.attrs]
    gaps = [text[ends[i] : a.name_span.start] for i, a in enumerate(tag.attrs)]
    last_end = ends[-1]
    # One attribute per line: every attribute after the first (or the only one) starts a line.
    per_line = gaps[1:] if len(gaps) > 1 else gaps
    if all("\n" in g for g in per_line):
        gap = gaps[-1]
        newline_at = gap.rfind("\n")
        newline = "\r\n" if gap[newline_at - 1 : newline_at] == "\r" else "\n"
        indent = gap[newline_at + 1 :]
        return Edit(last_end, last_end, newline + indent + attribute)
    return Edit(last_end, last_end, " " + attribute)


def _md_label_edits(text: str, image: ImageRef, decision: Decision, encoding: Encoding) -> list[Edit]:
    """Edits for an image whose alt is its label (`![label](src)`, `![label][ref]`...).

    The scanner's `span` runs from `!` to the closing `)`/`]`, extended over a trailing attr_list;
    a decorative marker follows it. `alt_span` None means the scanner could not prove where the
    label is (e.g. tabs inside it): such an image is not rewritten.
    """
    label = image.alt_span
    if text[image.span.start : image.span.start + 2] != "![" or label is None or text[label.end : label.end + 1] != "]":
        raise RewriteError(f"{_where(image)}: cannot locate the image label exactly; edit it by hand")
    has_attr_list = text[image.span.end - 1 : image.span.end] == "}"
    edits: list[Edit] = []
    marker = _MARKER_AFTER.match(text, image.span.end)
    new_label = "" if decision.decorative else escape_md_label(decision.alt, encoding)
    if decision.decorative and has_attr_list:
        # The image already has an attr_list: say alt="" there, the attr_list way.
        close = image.span.end - 1
        while text[close - 1] == " ":
            close -= 1
        edits.append(Edit(close, close, ' alt=""'))
    elif decision.decorative and marker is None:
        edits.append(Edit(image.span.end, image.span.end, DECORATIVE_MARKER))
    elif not decision.decorative and marker is not None:
        # A described image is not decorative. The spaces before the marker go with it, unless text
        # follows it directly: then they are what keeps that text apart from the image.
        glued = text[marker.end() : marker.end() + 1] not in ("", " ", "\t", "\n", "\r")
        start = text.index("<!--", image.span.end) if glued else image.span.end
        edits.append(Edit(start, marker.end(), ""))
    if image.syntax is Syntax.MD_REFERENCE and image.ref_form in ("shortcut", "collapsed"):
        # `![ref]` / `![ref][]`: the label *is* the reference; keep it, as written, explicitly.
        closing = "][]" if image.ref_form == "collapsed" else "]"
        if text[label.end : label.end + len(closing)] != closing:
            raise RewriteError(f"{_where(image)}: reference image does not end as scanned; edit it by hand")
        raw_ref = text[label.start : label.end]
        edits.append(Edit(label.start, label.end + len(closing), f"{new_label}][{raw_ref}]"))
    elif text[label.start : label.end] != new_label:
        edits.append(Edit(label.start, label.end, new_label))
    return edits


def _attr_list_edit(text: str, image: ImageRef, value: str, encoding: Encoding) -> Edit:
    if image.alt_span is None:
        raise RewriteError(f"{_where(image)}: attr_list without an alt value span")
    quote = image.alt_quote
    if quote:
        return Edit(image.alt_span.start, image.alt_span.end, escape_attr_list(value, quote, encoding))
    return Edit(image.alt_span.start, image.alt_span.end, '"' + escape_attr_list(value, '"', encoding) + '"')


def _option_edit(text: str, image: ImageRef, value: str, encoding: Encoding) -> Edit:
    """A directive's `:alt:` option (reST, MyST): rewrite/options.py. With several candidate
    encodings the value must fit each of them."""
    try:
        for candidate in (encoding,) if isinstance(encoding, str) else encoding[::-1]:
            start, end, new = plan_option_edit(text, image, value, candidate)
    except OptionEditError as exc:
        raise RewriteError(f"{_where(image)}: {exc}") from None
    return Edit(start, end, new)


# --------------------------------------------------------------------------- applying


def apply_edits(text: str, edits: Iterable[Edit]) -> str:
    """Apply edits back to front so earlier offsets stay valid. Overlapping edits are refused."""
    ordered = sorted(edits, key=lambda e: (e.start, e.end))
    for before, after in itertools.pairwise(ordered):
        if before.end > after.start or before.start == after.start:
            raise OverlapError(
                f"overlapping edits at offsets {before.start}..{before.end} and {after.start}..{after.end}"
            )
    if ordered and ordered[-1].end > len(text):
        raise OverlapError(f"edit past the end of the text ({ordered[-1].end} > {len(text)})")
    out = text
    for edit in reversed(ordered):
        out = out[: edit.start] + edit.text + out[edit.end :]
    return out


# --------------------------------------------------------------------------- verifying


def _shift(offset: int, edits: Sequence[Edit]) -> int:
    """Where `offset` (the start of an element) lands after the edits."""
    return offset + sum(len(e.text) - (e.end - e.start) for e in edits if e.end <= offset)


def _label_key(label: str | None) -> str | None:
    """A reference label as CommonMark matches it: case-folded, inner whitespace collapsed."""
    return None if label is None else " ".join(label.split()).casefold()


def _other_attrs(image: ImageRef) -> tuple[tuple[str, str | None], ...]:
    return tuple((a.name, a.value) for a in image.attrs if a.name != "alt")


def verify(
    old_images: Sequence[ImageRef],
    new_images: Sequence[ImageRef],
    decisions: Iterable[tuple[ImageRef, Decision]],
    edits: Sequence[Edit],
) -> list[str]:
    """Problems (one line each) if the re-scan differs from what the edits intended; [] if safe."""
    if len(old_images) != len(new_images):
        return [f"image count changed from {len(old_images)} to {len(new_images)}"]
    intended = {image.span.start: decision for image, decision in decisions}
    problems = []
    for old, new in zip(old_images, new_images):
        where = f"image at {old.line}:{old.column}"
        if (old.syntax, old.src, _label_key(old.ref_label), old.in_html_block, old.ignored) != (
            new.syntax,
            new.src,
            _label_key(new.ref_label),
            new.in_html_block,
            new.ignored,
        ) or (old.ref_form != new.ref_form and new.ref_form != "full"):  # ![ref] -> ![alt][ref] by design
            change = f"{old.syntax.value} {shown(old.src, 'no src')} -> {new.syntax.value} {shown(new.src, 'no src')}"
            problems.append(f"{where}: the element itself changed ({change})")
            continue
        if new.span.start != _shift(old.span.start, edits):
            problems.append(f"{where}: moved to an unexpected position")
            continue
        if _other_attrs(old) != _other_attrs(new):
            problems.append(f"{where}: attributes other than alt changed")
            continue
        decision = intended.get(old.span.start)
        if decision is None:
            if (new.alt, new.decorative, new.decorative_marker) != (old.alt, old.decorative, old.decorative_marker):
                problems.append(
                    f"{where}: alt changed although no decision was made for it "
                    f"({shown(old.alt, 'no alt')} -> {shown(new.alt, 'no alt')})"
                )
        elif decision.decorative:
            if new.alt != "" or (new.is_markdown_syntax and not new.decorative_marker):
                problems.append(f"{where}: expected a decorative image, re-scan reads {shown(new.alt, 'no alt')}")
        elif new.alt != decision.alt or new.decorative_marker:
            problems.append(f"{where}: expected alt {decision.alt!r}, re-scan reads {shown(new.alt, 'no alt')}")
    return problems


@dataclass(frozen=True)
class Rewrite:
    text: str  # the new text (== the old one when nothing changed)
    edits: tuple[Edit, ...]
    changed: tuple[ImageRef, ...]  # the (old) images whose alt changed


def rewrite_text(
    text: str,
    path: str,
    kind: Kind,
    images: Sequence[ImageRef],
    decisions: Sequence[tuple[ImageRef, Decision]],
    *,
    encoding: Encoding = "utf-8",
    dialect: Dialect | None = None,
) -> Rewrite:
    """Plan, apply, re-scan and verify. Raises RewriteError/VerifyError (one line) when unsafe.

    `images` is the complete scan of `text` (needed to prove nothing else moved); `decisions`
    pairs some of them with what to write. Markdown is re-scanned in `dialect`, the one `images`
    were scanned in.
    """
    edits = plan_edits(text, decisions, encoding=encoding)
    if not edits:
        return Rewrite(text, (), ())
    new_text = apply_edits(text, edits)
    new_images = scan_text(new_text, path, kind, dialect)
    problems = verify(images, new_images, decisions, edits)
    if not problems:
        # Idempotence: the same decisions on the re-scanned images must ask for nothing more.
        by_start = {image.span.start: decision for image, decision in decisions}
        again = [(new, by_start[old.span.start]) for old, new in zip(images, new_images) if old.span.start in by_start]
        try:
            if plan_edits(new_text, again, encoding=encoding):
                problems.append("a second pass would change the result again")
        except RewriteError as exc:
            problems.append(f"a second pass fails: {exc}")
    if problems:
        raise VerifyError("; ".join(problems[:3]) + (f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""))
    changed = tuple(image for image, decision in decisions if not is_satisfied(image, decision))
    return Rewrite(new_text, tuple(edits), changed)


# --------------------------------------------------------------------------- choosing what to edit


def rules_by_image(findings: Iterable[Finding]) -> dict[ImageKey, frozenset[str]]:
    """The rule ids that fired for each image."""
    rules: dict[ImageKey, set[str]] = {}
    for finding in findings:
        rules.setdefault(image_key(finding.image), set()).add(finding.rule)
    return {key: frozenset(ids) for key, ids in rules.items()}


def select_decisions(
    images: Sequence[ImageRef],
    decisions: Mapping[ImageKey, Decision],
    findings: Iterable[Finding],
    *,
    fixable_rules: frozenset[str] | None = None,
    overwrite: bool = False,
) -> tuple[list[tuple[ImageRef, Decision]], list[str]]:
    """Pair images with their decisions, keeping a human-written alt unless it is broken.

    An image is edited only when one of its findings is fixable or `overwrite` is set, or when it is
    `decorative-exposed` (hidden, yet exposed: "give it a text alternative") and the decision gives
    it text. Fixable means: the rule is in
    `fixable_rules` when given, else `check.rules.is_fixable` (the rules marked fixable -
    missing-alt, empty-alt, whitespace-alt, filename-alt, placeholder-alt - on images named by
    their alt). Returns the pairs to edit and one line per decision not applied;
    decisions that ask for what is already there are dropped silently.
    """
    findings = list(findings)
    exposed = {image_key(f.image) for f in findings if f.rule == "decorative-exposed"}
    if fixable_rules is None:
        findings = [f for f in findings if is_fixable(f)]
    else:
        findings = [f for f in findings if f.rule in fixable_rules]
    rules = rules_by_image(findings)
    pairs: list[tuple[ImageRef, Decision]] = []
    notes: list[str] = []
    for image in images:
        key = image_key(image)
        decision = decisions.get(key)
        if decision is None:
            continue
        where = f"{image.path}:{image.line}:{image.column}"
        if image.alt_kind is None:
            notes.append(
                f"{where}: not changed: {image.syntax.value} is named by aria-label/title, not alt; edit it by hand"
            )
        elif image.ignored:
            notes.append(f"{where}: not changed: the image is marked ignored")
        elif decision.decorative and image.syntax in (Syntax.HTML_INPUT_IMAGE, Syntax.HTML_AREA):
            notes.append(
                f"{where}: not changed: an image button or image-map area cannot be decorative; it needs alt text"
            )
        elif is_satisfied(image, decision):
            continue
        elif not overwrite and not rules.get(key) and not (key in exposed and not decision.decorative):
            if image.alt is None:
                notes.append(
                    f"{where}: not changed: no fixable finding for it (use --overwrite to write its alt anyway)"
                )
            else:
                notes.append(
                    f"{where}: not changed: keeps its written alt {image.alt!r} "
                    "(no fixable finding; use --overwrite to replace it)"
                )
        else:
            pairs.append((image, decision))
    return pairs, notes
