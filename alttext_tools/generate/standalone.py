"""An `ImageRef` for an image with no page around it (a file in a media library, a CMS upload):
what `ModelProvider.describe` needs to prompt for it, with whatever context the caller has."""

from __future__ import annotations

from alttext_tools.core import Context, ImageRef, Span, Syntax


def standalone_image(
    name: str,
    *,
    title: str | None = None,
    heading: str | None = None,
    text: str | None = None,
    link: str | None = None,
    language: str | None = None,
) -> ImageRef:
    """An informative `<img>` named `name` (shown in messages and records), with optional context:
    `title` as the page title, `heading` as the section heading, `text` as the text around it, `link`
    as the destination of an enclosing link (which makes it functional), `language` as the page's."""
    return ImageRef(
        path=name,
        syntax=Syntax.HTML_IMG,
        span=Span(0, 0),
        line=1,
        column=1,
        source="<img>",
        src=name,
        alt=None,
        alt_kind=None,
        alt_span=None,
        context=Context(
            page_title=title or None,
            heading=heading or None,
            paragraph=text or None,
            link_href=link or None,
            in_link=bool(link),
            lang=language or None,
        ),
    )
