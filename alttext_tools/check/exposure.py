"""Whether an image marked decorative is still exposed to assistive technology, and by what."""

from __future__ import annotations

from alttext_tools.core import ImageRef, Syntax
from alttext_tools.scan.aria import GLOBAL_ARIA, PRESENTATIONAL_ROLES, first_values, is_integer, is_true, role_of

_PRESENTABLE = (Syntax.HTML_IMG, Syntax.MD_INLINE, Syntax.MD_REFERENCE)  # rendered as <img>


def is_marked_decorative(image: ImageRef) -> bool:
    """Hidden or presentational: what the scanner says, aria-hidden="true" on the image or, for an
    image with no accessible name that renders as an <img>, role none/presentation or (HTML) alt=""."""
    if image.decorative:
        return True
    attrs = first_values(image.attrs)
    if is_true(attrs.get("aria-hidden")):
        return True
    if image.name is not None or image.syntax not in _PRESENTABLE:
        return False
    role = role_of(attrs.get("role"))
    return role in PRESENTATIONAL_ROLES or (image.syntax is Syntax.HTML_IMG and image.alt == "")


def exposed_by(image: ImageRef) -> tuple[str, ...]:
    """What exposes an image marked decorative to assistive technology anyway, most important
    first; () when nothing does or when the image is not marked decorative.

    Reads only the image's own attributes (the first of each name):
    - "tabindex": keyboard focus lands on it (any tabindex that parses as an integer, even -1);
      browsers then ignore alt="" and role=none, and aria-hidden leaves it focusable but silent;
    - "focusable": an <area href> or an enabled <input type=image>, focusable by nature;
    - "role=<role>": alt="" (or role=none overridden) next to another role, such as role="img";
    - a global ARIA attribute ("aria-live", "aria-describedby", ... `GLOBAL_ARIA`; aria-live only
      when not "off" or empty): browsers expose an element that alt="" or role=none/presentation
      would otherwise remove.
    With aria-hidden="true" on the image only focus counts: roles and ARIA attributes are hidden too.
    """
    if not is_marked_decorative(image):
        return ()
    attrs = first_values(image.attrs)
    reasons: list[str] = []
    if image.syntax is Syntax.HTML_INPUT_IMAGE and "disabled" in attrs:
        pass  # a disabled control takes no focus, whatever its tabindex
    elif is_integer(attrs.get("tabindex")):
        reasons.append("tabindex")
    elif image.syntax in (Syntax.HTML_AREA, Syntax.HTML_INPUT_IMAGE):
        reasons.append("focusable")
    if is_true(attrs.get("aria-hidden")):
        return tuple(reasons)
    role = role_of(attrs.get("role"))
    presentational = image.syntax in _PRESENTABLE and (image.alt == "" or role in PRESENTATIONAL_ROLES)
    if not presentational:
        return tuple(reasons)
    if role and role not in PRESENTATIONAL_ROLES:
        reasons.append(f"role={role}")
    for name in GLOBAL_ARIA:
        if name in attrs and not (name == "aria-live" and (attrs[name] or "").strip().lower() in ("", "off")):
            reasons.append(name)
    return tuple(reasons)
