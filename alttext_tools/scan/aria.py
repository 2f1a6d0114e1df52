"""How browsers read the attributes that make an element presentational, hidden or focusable."""

from __future__ import annotations

import re
from collections.abc import Iterable

from alttext_tools.core import Attr

PRESENTATIONAL_ROLES = frozenset({"none", "presentation"})
# ARIA 1.2 global states and properties, besides naming and aria-hidden: any of them on an element
# whose role is none/presentation (or an <img alt="">) makes browsers expose it anyway
# (https://www.w3.org/TR/wai-aria-1.2/#conflict_resolution_presentation_none).
GLOBAL_ARIA = (
    "aria-live",
    "aria-describedby",
    "aria-details",
    "aria-atomic",
    "aria-busy",
    "aria-controls",
    "aria-current",
    "aria-dropeffect",
    "aria-flowto",
    "aria-grabbed",
    "aria-keyshortcuts",
    "aria-owns",
    "aria-relevant",
    "aria-roledescription",
)
ASCII_SPACE = "\t\n\f\r "
# HTML's rules for parsing integers: optional ASCII spaces and a sign, then at least one digit.
_INTEGER = re.compile(r"[\t\n\f\r ]*[-+]?[0-9]")


def first_values(attrs: Iterable[Attr]) -> dict[str, str | None]:
    """name -> value of the first attribute with each name (browsers ignore later duplicates)."""
    values: dict[str, str | None] = {}
    for attr in attrs:
        values.setdefault(attr.name, attr.value)
    return values


def role_of(value: str | None) -> str:
    """The role that applies: the first token of a role attribute, lower-cased ("" if none)."""
    tokens = value.split() if value else []
    return tokens[0].lower() if tokens else ""


def is_true(value: str | None) -> bool:
    """Is an ARIA true/false attribute (aria-hidden) "true"? Case and surrounding spaces ignored."""
    return value is not None and value.strip(ASCII_SPACE).lower() == "true"


def is_integer(value: str | None) -> bool:
    """Does a tabindex value parse as an integer? "1x" does (browsers read 1); "x" does not."""
    return value is not None and _INTEGER.match(value) is not None
