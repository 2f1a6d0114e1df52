"""The rules: a pure judgement of each image the scanners found.

`evaluate(image, settings)` looks only at the `ImageRef` (its alt, computed name, attributes and
context); it never reads files. Rule ids are public API: they appear in JSON, SARIF and config.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from alttext_tools.check.exposure import exposed_by, is_marked_decorative
from alttext_tools.core import AltKind, Finding, ImageRef, Severity, Syntax
from alttext_tools.scan.aria import PRESENTATIONAL_ROLES, first_values, is_true, role_of

if TYPE_CHECKING:
    from alttext_tools.config import Config


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity  # default severity
    summary: str  # one line: what is wrong
    help: str  # a paragraph: why it matters and how to fix it
    fixable: bool  # the rewriter may replace this alt by default (else only with an overwrite flag)


def _rule(id: str, severity: Severity, summary: str, help: str, fixable: bool) -> tuple[str, Rule]:
    return id, Rule(id, severity, summary, help, fixable)


E, W = Severity.ERROR, Severity.WARNING
RULES: dict[str, Rule] = dict(
    [
        _rule(
            "missing-alt",
            E,
            "Image has no text alternative.",
            "Screen readers announce an image without alt text by its file name or not at all. "
            'Add alt="..." that says what the image shows or does, or alt="" if it is purely '
            "decorative. Image buttons (input type=image) and image-map areas must always have "
            "non-empty alt text, and so must an image that is the only content of a link.",
            True,
        ),
        _rule(
            "empty-alt",
            E,
            "Markdown image has an empty label and no decorative marker.",
            "In Markdown, ![](src) may be a forgotten description or a deliberate decorative image. "
            "Describe the image between ![ and ], or mark it decorative explicitly with "
            '![](src){ alt="" } or ![](src)<!-- alttext: decorative -->.',
            True,
        ),
        _rule(
            "whitespace-alt",
            E,
            "Alt text contains only whitespace.",
            "Whitespace-only alt text is neither a description nor a clear decorative marker, and "
            'assistive technologies handle it inconsistently. Describe the image, or use alt="" '
            "if it is decorative.",
            True,
        ),
        _rule(
            "missing-name",
            E,
            'Element with role="img" has no accessible name.',
            'An <svg role="img"> is named by a <title> first child, aria-label or aria-labelledby; '
            'other elements with role="img" by aria-label, aria-labelledby or title. The alt '
            'attribute does not apply to them. Add a name, or use aria-hidden="true" instead of '
            'role="img" if the graphic is decorative.',
            False,
        ),
        _rule(
            "decorative-exposed",
            E,
            "Image is marked decorative but is still exposed.",
            'An image hidden with alt="", role="none"/"presentation" or aria-hidden="true" must not '
            'be focusable (tabindex). One hidden with alt="" or role="none" must not carry another '
            "role or a global ARIA attribute such as aria-live or aria-describedby either: browsers "
            "then expose it anyway, with no name. Give it a text alternative, or remove the "
            "attributes that expose it.",
            False,
        ),
        _rule(
            "filename-alt",
            W,
            "Alt text looks like a file name.",
            "File names (hero.png, IMG_2041, Screenshot 2024-01-01 at 10.00.00) are usually "
            "filled in by an editor or CMS, not written by a person, and say nothing about the "
            "image. Describe what the image shows or what it is for.",
            True,
        ),
        _rule(
            "placeholder-alt",
            W,
            "Alt text is a placeholder.",
            'Words like "image", "photo", "screenshot", "icon" or "TODO" only say that there is an '
            "image; screen readers already announce that. Describe what the image shows or does, "
            'or use alt="" if it is decorative.',
            True,
        ),
        _rule(
            "redundant-prefix",
            W,
            'Alt text starts with "image of" or similar.',
            'Screen readers already announce an image as an image, so "Image of a cat" is read '
            'as "image, Image of a cat". Start with the content: "A cat asleep on a keyboard". '
            "Say that it is a screenshot, a photo, a diagram or a painting only when the medium matters, "
            'and then say what it shows: "Screenshot of the settings page with Save highlighted" is '
            'fine, "Screenshot of page" says nothing.',
            False,
        ),
        _rule(
            "alt-too-long",
            W,
            "Alt text is too long.",
            "Alt text is read in one go and cannot be navigated; long descriptions tire listeners. "
            "Keep it to the essential content and function (the default limit is 150 "
            "characters) and move details to a caption or the surrounding text.",
            False,
        ),
        _rule(
            "alt-duplicates-text",
            W,
            "Alt text repeats the adjacent link, button, caption or paragraph text.",
            "When the image's alt text equals the text next to it, screen readers read the same "
            'words twice. Use alt="" (mark the image decorative) when the text already says it all, '
            "or describe what the text does not say.",
            False,
        ),
        # Reported by `check --require-reviewed` (check/unreviewed.py): it needs the alt-text cache.
        _rule(
            "unreviewed-alt",
            E,
            "Alt text was written by a model and never reviewed.",
            "This alt text came from the alt-text cache as a model wrote it, and no person has accepted or "
            "edited it. Models misread images and miss what an image is for on its page. Review it with "
            "`alttext review` (accept, edit, or mark decorative), or write the alt text yourself.",
            False,
        ),
    ]
)
del E, W

_RULE_IDS = tuple(RULES)


@dataclass(frozen=True)
class RuleSettings:
    max_length: int = 150
    disabled: frozenset[str] = frozenset()
    severity_overrides: Mapping[str, Severity] = field(default_factory=dict)
    extra_placeholders: frozenset[str] = frozenset()
    inline_config: bool = True  # suppression comments in the sources apply (check/suppression.py)

    def __post_init__(self) -> None:
        if isinstance(self.max_length, bool) or not isinstance(self.max_length, int) or self.max_length < 1:
            raise ValueError(f"max_length must be a positive integer, not {self.max_length!r}")
        disabled = frozenset(self.disabled)
        overrides = {rule: Severity(level) for rule, level in dict(self.severity_overrides).items()}
        for rule in sorted(disabled | set(overrides)):
            if rule not in RULES:
                raise ValueError(f"unknown rule {rule!r} (known: {', '.join(_RULE_IDS)})")
        object.__setattr__(self, "disabled", disabled)
        object.__setattr__(self, "severity_overrides", overrides)
        extra = frozenset(k for k in (_placeholder_key(p) for p in self.extra_placeholders) if k)
        object.__setattr__(self, "extra_placeholders", extra)

    def severity(self, rule: str) -> Severity:
        return self.severity_overrides.get(rule, RULES[rule].severity)

    @classmethod
    def for_config(cls, config: Config, disable: Iterable[str] = ()) -> RuleSettings:
        """The settings `config` gives (max_length, disable, severity, placeholders), plus rules
        turned off on the command line. ValueError, one line, for an unknown rule or level."""
        return cls(
            max_length=config.max_length,
            disabled=frozenset([*config.disable, *disable]),
            severity_overrides={rule: Severity(level) for rule, level in config.severity.items()},
            extra_placeholders=frozenset(config.placeholders),
            inline_config=config.inline_config,
        )


DEFAULT_SETTINGS = RuleSettings()


def evaluate(image: ImageRef, settings: RuleSettings = DEFAULT_SETTINGS) -> list[Finding]:
    """Every finding for one image, in rule order, after disabling and severity overrides."""
    if image.ignored:
        return []
    return [
        Finding(rule, settings.severity(rule), message, image)
        for rule, message in _judge(image, settings)
        if rule not in settings.disabled
    ]


def evaluate_all(images: Iterable[ImageRef], settings: RuleSettings = DEFAULT_SETTINGS) -> list[Finding]:
    findings = [finding for image in images for finding in evaluate(image, settings)]
    return sorted(findings, key=lambda f: f.sort_key)


# The rules that judge the words of a present text alternative (the rest judge its absence or the
# element's attributes).
ALT_TEXT_RULES = frozenset(
    {"filename-alt", "placeholder-alt", "redundant-prefix", "alt-too-long", "alt-duplicates-text"}
)


def judge_alt(image: ImageRef, alt: str, settings: RuleSettings = DEFAULT_SETTINGS) -> list[Finding]:
    """What `check` will say about the words of `alt` once it is written as `image`'s alt text,
    in the image's own context (link, caption, paragraph): the ALT_TEXT_RULES findings of the
    image as a re-scan reads it. An aria-label or aria-labelledby name still wins over the alt."""
    name, name_from = image.name, image.name_from
    if name_from not in ("aria-label", "aria-labelledby"):
        name, name_from = _collapse(alt) or None, "alt"
    written = replace(image, alt=alt, name=name, name_from=name_from, decorative=False, decorative_marker=False)
    return [finding for finding in evaluate(written, settings) if finding.rule in ALT_TEXT_RULES]


def is_fixable(finding: Finding) -> bool:
    """True when rewriting the image's alt value fixes this finding and may be done by default."""
    rule = RULES.get(finding.rule)
    image = finding.image
    return bool(
        rule is not None and rule.fixable and image.alt_kind is not None and image.name_from in (None, "alt", "label")
    )


# --- the judgement ---------------------------------------------------------------------------

_Verdict = Iterator[tuple[str, str]]


def _judge(image: ImageRef, settings: RuleSettings) -> _Verdict:
    attrs = first_values(image.attrs)
    hidden = is_true(attrs.get("aria-hidden"))

    if image.syntax in (Syntax.HTML_INPUT_IMAGE, Syntax.HTML_AREA):
        # Controls and links: focusable, so never decorative (unless disabled).
        what = "image button" if image.syntax is Syntax.HTML_INPUT_IMAGE else "image-map area"
        if hidden:
            if exposed_by(image):
                yield (
                    "decorative-exposed",
                    (
                        f'{what} is hidden with aria-hidden="true" but can still be focused; '
                        "remove aria-hidden and give it alt text"
                    ),
                )
        elif image.name is None:
            yield _unnamed_control(image, what)
        else:
            yield from _quality(image, settings)
        return

    if hidden:
        # Removed from the accessibility tree: only focus can bring it back.
        if exposed_by(image):
            yield (
                "decorative-exposed",
                (
                    f'image is hidden with aria-hidden="true" but is focusable ({_tabindex(attrs)}); '
                    "remove tabindex, or remove aria-hidden and give it a text alternative"
                ),
            )
        return

    if image.syntax in (Syntax.HTML_SVG, Syntax.HTML_ROLE_IMG):
        if image.name is None:
            yield "missing-name", _missing_name_message(image)
        else:
            yield from _quality(image, settings)
        return

    if image.name is None:
        yield from _unnamed(image, attrs)
    else:
        yield from _quality(image, settings)


def _unnamed(image: ImageRef, attrs: Mapping[str, str | None]) -> _Verdict:
    """An img or Markdown image with no accessible name: missing, ambiguous, or decorative."""
    if image.is_markdown_syntax and image.alt == "" and not _explicitly_decorative(image):
        yield (
            "empty-alt",
            (
                "image has an empty label, so it is unclear whether it is decorative: describe it "
                'in ![...], or mark it decorative with ![](src){ alt="" } or '
                "![](src)<!-- alttext: decorative -->"
            ),
        )
        return
    if image.alt is not None and image.alt != "" and not image.alt.strip():
        if _only_content_of_control(image):
            advice = f" and the image is the only content of a {_control(image)}; describe the {_control_task(image)}"
        else:
            advice = f"; describe the image, or use {_empty_alt(image)} if it is decorative"
        yield "whitespace-alt", f"alt text is only whitespace ({_quote(image.alt)}){advice}"
        return
    if not is_marked_decorative(image):
        yield "missing-alt", _missing_alt_message(image)
        return
    role = role_of(attrs.get("role"))
    exposure = exposed_by(image)
    if exposure:
        yield (
            "decorative-exposed",
            (
                f"image is marked decorative ({_decorative_how(image, role)}) but is "
                f"{_exposure_text(exposure, attrs)}; give it a text alternative, or remove the attributes "
                "that expose it"
            ),
        )
    elif image.is_markdown_syntax and _only_content_of_control(image):
        # Only Markdown: an HTML link or button may be named by its own aria-label or title,
        # which Context does not carry, and <a aria-label="Home"><img alt=""></a> is correct.
        control = _control(image)
        yield (
            "missing-alt",
            (
                f"image is the only content of a {control} but is marked decorative "
                f"({_decorative_how(image, role)}), so the {control} has no name; "
                f"describe the {_control_task(image)} in its alt text"
            ),
        )


def _unnamed_control(image: ImageRef, what: str) -> tuple[str, str]:
    task = "name its action" if image.syntax is Syntax.HTML_INPUT_IMAGE else "name the link destination"
    if image.alt is not None and image.alt != "" and not image.alt.strip():
        return "whitespace-alt", f"{what} alt text is only whitespace ({_quote(image.alt)}); {task} in it"
    if image.alt == "":
        return "missing-alt", f'{what} has alt="", which is not allowed here; {task} in the alt text'
    return "missing-alt", f'{what} has no alt text; add alt="..." to {task}'


def _missing_alt_message(image: ImageRef) -> str:
    if _only_content_of_control(image):
        where = "between ![ and ]" if image.is_markdown_syntax else 'in alt="..."'
        if image.is_directive_syntax:
            where = "in its :alt: option"
        return (
            f"image has no alt text and is the only content of a {_control(image)}; "
            f"describe the {_control_task(image)} {where}"
        )
    if image.is_markdown_syntax:
        return "image has no alt text; describe it between ![ and ]"
    if image.is_directive_syntax:
        return "image has no :alt: option; add `:alt: <description>`, or an empty `:alt:` if it is decorative"
    return 'image has no alt text (add alt="..." or alt="" if decorative)'


def _missing_name_message(image: ImageRef) -> str:
    role = role_of(first_values(image.attrs).get("role")) or "img"
    if image.syntax is Syntax.HTML_SVG:
        return (
            f'<svg role="{role}"> has no accessible name; add a <title> as its first child or '
            'aria-label="...", or use aria-hidden="true" if it is decorative'
        )
    tag = _tag_name(image)
    return (
        f'<{tag} role="{role}"> has no accessible name; add aria-label="..." (alt does not apply '
        f'to a <{tag}>), or remove role="{role}" if it is decorative'
    )


def _control(image: ImageRef) -> str:
    return "button" if image.context.in_button else "link"


def _control_task(image: ImageRef) -> str:
    return "button's action" if image.context.in_button else "link's destination"


def _only_content_of_control(image: ImageRef) -> bool:
    ctx = image.context
    return (ctx.in_link or ctx.in_button) and not (ctx.link_text or "").strip()


def _explicitly_decorative(image: ImageRef) -> bool:
    return image.decorative_marker or image.alt_kind is AltKind.MD_ATTR_LIST


def _empty_alt(image: ImageRef) -> str:
    return '![](src){ alt="" }' if image.is_markdown_syntax else 'alt=""'


def _decorative_how(image: ImageRef, role: str) -> str:
    if role in PRESENTATIONAL_ROLES:
        return f'role="{role}"'
    if image.is_markdown_syntax:
        return "decorative marker"
    if image.alt == "":
        return 'alt=""'
    return 'aria-hidden="true" on an ancestor'


def _tabindex(attrs: Mapping[str, str | None]) -> str:
    return f'tabindex="{(attrs.get("tabindex") or "").strip()}"'


def _exposure_text(reasons: Iterable[str], attrs: Mapping[str, str | None]) -> str:
    """`exposure.exposed_by`'s reasons as words: 'focusable (tabindex="0") and given role="img"'."""
    words = []
    for reason in reasons:
        if reason == "tabindex":
            words.append(f"focusable ({_tabindex(attrs)})")
        elif reason == "focusable":
            words.append("focusable")
        elif reason.startswith("role="):
            words.append(f'given role="{reason.removeprefix("role=")}"')
        elif reason == "aria-live":
            words.append(f'a live region (aria-live="{(attrs.get(reason) or "").strip().lower()}")')
        else:
            words.append(f"given {reason}")
    return " and ".join(words)


def _tag_name(image: ImageRef) -> str:
    match = re.match(r"<([A-Za-z][\w:-]*)", image.source)
    return match.group(1).lower() if match else "element"


# --- quality of a present name ---------------------------------------------------------------

_TEMPLATE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|<%.*?%>|\$\{.*?\}|\{#.*?#\}", re.S)


def _quality(image: ImageRef, settings: RuleSettings) -> _Verdict:
    text = _collapse(image.name or "")
    if not text or _TEMPLATE.search(text):
        return  # the value is only known when the template is rendered
    what = _what(image)
    shown = _quote(text)
    if _looks_like_filename(text, image.src):
        yield "filename-alt", f"{what} {shown} looks like a file name; describe what the image shows"
    elif _placeholder_key(text) in _PLACEHOLDERS | settings.extra_placeholders:
        yield "placeholder-alt", f"{what} {shown} is a placeholder; describe what the image shows or does"
    prefix = _flagged_prefix(text)
    if prefix is not None:
        start = _quote(prefix.text.strip())
        if prefix.bare:
            advice = "; screen readers already announce images, so start with the content"
        else:
            advice = " and says nothing else; say what it shows, or start with the content"
        yield "redundant-prefix", f"{what} {shown} starts with {start}{advice}"
    if len(text) > settings.max_length:
        yield (
            "alt-too-long",
            (
                f"{what} is {len(text)} characters long (max {settings.max_length}); keep the essentials "
                "and move details to a caption or the surrounding text"
            ),
        )
    duplicate = _duplicated(text, image)
    if duplicate:
        yield (
            "alt-duplicates-text",
            (
                f"{what} {shown} repeats the {duplicate}, so it is read twice; mark the image "
                "decorative, or describe what the text does not say"
            ),
        )


def _what(image: ImageRef) -> str:
    return {
        "aria-label": "aria-label",
        "aria-labelledby": "aria-labelledby text",
        "title": "title",
        "svg-title": "<title>",
    }.get(image.name_from or "", "alt text")


def _duplicated(text: str, image: ImageRef) -> str | None:
    ctx = image.context
    key = _compare_key(text)
    if ctx.link_text and _compare_key(ctx.link_text) == key:
        return "button text" if ctx.in_button else "link text"
    if ctx.caption and _compare_key(ctx.caption) == key:
        return "caption"
    # The whole text of the image's own paragraph, list item or block, as axe's image-redundant-alt
    # compares it: `<p><img alt="Sunset"><br>Sunset</p>` is read "Sunset, Sunset".
    if ctx.paragraph and _compare_key(ctx.paragraph) == key:
        return "text of its paragraph"
    return None


def _compare_key(text: str) -> str:
    return _collapse(text).casefold().rstrip(".,;:!?…。、！？ ")


# Each entry is compared with the whole alt, case-folded, with surrounding punctuation, a leading
# article and trailing numbering ("image 1", "Screenshot (3)", "img_02") removed. Generic nouns
# for the kind of image ("icon", "logo", "banner") are included: on their own they never say what
# the image shows or whose it is; "Acme logo" or "Settings icon" pass because only whole-alt
# matches count. Common translations of "image"/"photo" are included for translated docs.
_PLACEHOLDERS = frozenset(
    {
        # the medium
        "image",
        "images",
        "img",
        "picture",
        "pictures",
        "pic",
        "pics",
        "photo",
        "photos",
        "photograph",
        "graphic",
        "graphics",
        "screenshot",
        "screenshots",
        "screen shot",
        "screen capture",
        "screencap",
        "figure",
        "fig",
        "illustration",
        "thumbnail",
        "thumb",
        "icon",
        "logo",
        "banner",
        "gif",
        "jpeg",
        "jpg",
        "png",
        "svg",
        "chart",
        "diagram",
        "media",
        "attachment",
        # unfilled fields and editor defaults
        "alt",
        "alt text",
        "alttext",
        "alt tag",
        "alt attribute",
        "alternative text",
        "image description",
        "description",
        "caption",
        "placeholder",
        "spacer",
        "blank",
        "empty",
        "untitled",
        "untitled image",
        "untitled design",
        "no title",
        "default",
        "enter image description here",
        "insert image description here",
        "image alt",
        "image alt text",
        "add alt text",
        "alt text here",
        "image here",
        "lorem ipsum",
        # to-do markers and template leftovers
        "todo",
        "tbd",
        "tba",
        "fixme",
        "xxx",
        "tk",
        "null",
        "undefined",
        "none",
        "nan",
        "n/a",
        # translations of image/photo/picture
        "bild",
        "foto",
        "imagen",
        "imagem",
        "immagine",
        "afbeelding",
        "obraz",
        "zdjęcie",
        "resim",
        "görsel",
        "изображение",
        "картинка",
        "фото",
        "зображення",
        "画像",
        "写真",
        "图片",
        "图像",
        "圖片",
        "圖像",
        "이미지",
        "사진",
        "छवि",
        "चित्र",
    }
)

_PUNCT = " \t\"'`.,;:!?-–—_*#~|/\\()[]{}<>«»“”‘’"
_NUMBERING = re.compile(r"(?:[\s_#.-]*(?:\(\d+\)|\[\d+\]|\d+))+$")
_ARTICLE = re.compile(r"^(?:an?|the|my|your|our|this)\s+")


def _placeholder_key(text: str) -> str:
    key = _collapse(text).casefold().strip(_PUNCT)
    key = _NUMBERING.sub("", key).strip(_PUNCT)
    return _ARTICLE.sub("", key).strip(_PUNCT)


# Words that only say "this is an image": redundant at the start of any alt ("Image of a cat").
_BARE_MEDIUM = r"image|picture|pic|img|graphic|icon"
# Media whose kind can matter ("Screenshot of the settings page with Save highlighted", "Painting
# of a harbour at dusk"): flagged only when what follows says nothing ("Screenshot of page").
_TELLING_MEDIUM = (
    r"photo|photograph|screenshot|screen\s*shot|screen\s*capture|diagram|painting|drawing|illustration|sketch|gif"
)
_REDUNDANT_PREFIX = re.compile(
    rf"^((?:(?:an?|the)\s+)?(?:(?P<bare>{_BARE_MEDIUM})|{_TELLING_MEDIUM})"
    rf"\s+(?:of|showing|shows|depicting|displaying|with)\b"
    rf"|(?:(?P<bare_colon>{_BARE_MEDIUM})|{_TELLING_MEDIUM})\s*[:–—-]\s)(?=\s*\S)",
    re.I,
)
# What follows a telling medium when it carries nothing: compared with `_placeholder_key` of the rest.
_GENERIC_SUBJECTS = frozenset(
    {
        "page",
        "web page",
        "webpage",
        "site",
        "website",
        "screen",
        "app",
        "application",
        "window",
        "program",
        "software",
        "tool",
        "ui",
        "user interface",
        "interface",
        "dashboard",
        "menu",
        "dialog",
        "form",
        "settings",
        "document",
        "file",
        "text",
        "code",
        "data",
        "output",
        "result",
        "results",
        "error",
        "example",
        "it",
        "this",
        "that",
        "something",
        "thing",
        "things",
        "stuff",
        "object",
        "item",
        "scene",
        "view",
        "person",
        "people",
        "someone",
        "product",
    }
)


@dataclass(frozen=True)
class _Prefix:
    text: str  # as written, e.g. "Image of "
    bare: bool  # a bare medium ("image of"), not a telling one ("screenshot of")
    end: int


def _flagged_prefix(text: str) -> _Prefix | None:
    """The redundant prefix of `text`: a bare medium ("Image of a cat"), or a telling one followed
    by nothing that says what it shows ("Screenshot of the page"); None when there is none."""
    match = _REDUNDANT_PREFIX.match(text)
    if match is None:
        return None
    prefix = _Prefix(match.group(1), bool(match.group("bare") or match.group("bare_colon")), match.end())
    if prefix.bare:
        return prefix
    rest = _placeholder_key(text[prefix.end :])
    return prefix if not rest or rest in _GENERIC_SUBJECTS or rest in _PLACEHOLDERS else None


def strip_redundant_prefix(text: str) -> str:
    """`text` without a bare-medium prefix the redundant-prefix rule flags ("Image of a cat" ->
    "A cat"); unchanged when it has none, or when the flagged prefix is a telling medium that
    nothing follows (stripping "Screenshot of page" would leave "page", no better)."""
    prefix = _flagged_prefix(text)
    if prefix is None or not prefix.bare:
        return text
    rest = text[prefix.end :].strip()
    return rest[:1].upper() + rest[1:]


# --- file names ------------------------------------------------------------------------------

_IMAGE_EXTENSIONS = (
    "png",
    "jpg",
    "jpeg",
    "jpe",
    "jfif",
    "gif",
    "svg",
    "svgz",
    "webp",
    "avif",
    "bmp",
    "tif",
    "tiff",
    "ico",
    "heic",
    "heif",
    "apng",
    "jxl",
)
# A token ending in an image extension: "hero.png", "assets/x.JPG", "a.webp?v=2".
_HAS_EXTENSION = re.compile(rf"[^\s.]\.(?:{'|'.join(_IMAGE_EXTENSIONS)})(?=$|[\s?#)\]\"'.,;:!])", re.I)
# Whole-alt names from cameras, phones and uploads, with an optional copy suffix ("IMG_2041 (2)").
_CAMERA = re.compile(
    r"""(?:
        _?(?:IMG|DSC[NF]?|DCIM|PXL|MVIMG|PANO|GOPR|GP|DJI|SAM|CIMG)[_-]?\d{3,}(?:[_-]\d+)*
      | IMG[_-]\d{8}[_-]WA\d+                                              # WhatsApp
      | P\d{7}                                                             # Panasonic, Olympus
      | [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}         # UUID (uploads)
      | (?=[a-f]*\d)(?=\d*[a-f])[0-9a-f]{16,}                                # content hash
    )(?:[\s_-]*(?:\(\d+\)|copy|edited|\d+))*""",
    re.I | re.X,
)
# Dated screen captures: "Screenshot 2024-01-01 at 10.00.00", "Screen Shot 2020-05-04 at 9.41.12 AM".
_CAPTURE = re.compile(
    r"""(?:screenshot|screen\s*shot|bildschirmfoto|schermafbeelding|capture\s+d.[ée]cran
          |captura\s+de\s+pantalla|whatsapp\s+image|photo)
        [\s_-]*(?:from\s+|at\s+|on\s+)?\(?\d{4}[-_.]?\d{2}[-_.]?\d{2}""",
    re.I | re.X,
)


def _looks_like_filename(text: str, src: str | None) -> bool:
    if _HAS_EXTENSION.search(text) or _CAMERA.fullmatch(text) or _CAPTURE.match(text):
        return True
    basename = _src_basename(src)
    if not basename:
        return False
    stem = basename.rsplit(".", 1)[0] if "." in basename.strip(".") else basename
    if text.casefold() == basename.casefold() or text == stem:
        return True
    # A slug like "hero-banner-2x" matches its stem whatever the case; a plain word must match
    # exactly, so alt="Uber" for uber.svg is a name, while alt="uber" was copied from the file.
    return _is_slug(stem) and text.casefold() == stem.casefold()


def _is_slug(stem: str) -> bool:
    return " " not in stem and bool(re.search(r"[_\-\d]", stem))


def _src_basename(src: str | None) -> str:
    if not src or src.strip().lower().startswith("data:"):
        return ""
    path = urlsplit(src.strip()).path
    return unquote(posixpath.basename(path.rstrip("/"))) if path else ""


# --- text helpers ----------------------------------------------------------------------------


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _quote(text: str, limit: int = 60) -> str:
    """A value for a one-line message: whitespace shown, long values shortened."""
    if not text.strip():
        return repr(text)
    short = _collapse(text)
    if len(short) > limit:
        short = short[: limit - 1].rstrip() + "…"
    return '"' + short.replace('"', '\\"') + '"'
