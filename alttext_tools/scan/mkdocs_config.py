"""Read what the Markdown scanner needs from a `mkdocs.yml`: its docs_dir and markdown_extensions.

Real `mkdocs.yml` files carry tags such as `!!python/name:material.extensions.emoji.twemoji` and
`!ENV [VAR, default]`. They are read with PyYAML's SafeLoader plus one constructor that turns any
tag it does not know into the plain value under it: nothing is imported, nothing is executed.
`INHERIT: parent.yml` is followed (a child's keys win, as in MkDocs).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alttext_tools.errors import AltTextError
from alttext_tools.text import one_line

CONFIG_NAMES = ("mkdocs.yml", "mkdocs.yaml")
MAX_INHERIT = 8  # deepest INHERIT chain followed
# Package prefixes that name the same extension (`markdown.extensions.admonition` is `admonition`).
_PREFIXES = ("markdown.extensions.",)
# Extensions that stand for several others.
_BUNDLES = {"extra": ("abbr", "attr_list", "def_list", "fenced_code", "footnotes", "md_in_html", "tables")}


class MkDocsConfigError(AltTextError):
    """A mkdocs.yml that cannot be read: the file, the line when known, and why (one line)."""

    def __init__(self, config: Path, reason: str, line: int | None = None) -> None:
        self.config, self.reason, self.line = config, one_line(reason), line
        super().__init__(f"{self.where}: {self.reason}")

    @property
    def where(self) -> str:
        return f"{self.config}:{self.line}" if self.line is not None else str(self.config)


@dataclass(frozen=True)
class MkDocsSite:
    config: Path  # the mkdocs.yml
    docs_dir: Path
    extensions: frozenset[str]
    # What the site was read from: the docs_dir setting as written, and every file read (the
    # mkdocs.yml and the files it INHERITs), so a reader can keep the site while they are unchanged.
    docs_dir_setting: str = "docs"
    sources: tuple[Path, ...] = ()

    @classmethod
    def make(cls, config: Path, docs_dir: str, extensions: frozenset[str], sources: tuple[Path, ...]) -> MkDocsSite:
        """The site of `config` whose docs_dir setting is `docs_dir` (resolved against its folder)."""
        return cls(config, (config.parent / docs_dir).resolve(), extensions, docs_dir, sources)

    def governs(self, path: Path) -> bool:
        """Whether `path` (absolute) is one of this site's pages."""
        return path == self.docs_dir or self.docs_dir in path.parents


def read_site(config: Path) -> MkDocsSite:
    """The docs_dir and Markdown extensions of one mkdocs.yml; MkDocsConfigError when unreadable."""
    sources: list[Path] = []
    data = _load(config, 0, sources)
    docs_dir = data.get("docs_dir", "docs")
    if not isinstance(docs_dir, str) or not docs_dir:
        raise MkDocsConfigError(config, "docs_dir must be a folder name")
    return MkDocsSite.make(config, docs_dir, extension_names(data.get("markdown_extensions")), tuple(sources))


def extension_names(value: Any) -> frozenset[str]:
    """Extension names from a markdown_extensions value: a list of names or of one-key mappings,
    or one mapping (`{toc: {permalink: true}, abbr: null}`). Bundles such as `extra` are expanded."""
    names: list[str] = []
    if isinstance(value, dict):
        names.extend(str(key) for key in value)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, str):
                names.append(item)
            elif isinstance(item, dict):
                names.extend(str(key) for key in item)
    found: set[str] = set()
    for raw in names:
        name = raw.strip()
        for prefix in _PREFIXES:
            if name.startswith(prefix):
                name = name[len(prefix) :]
        found.update(_BUNDLES.get(name, (name,)))
    return frozenset(found)


def _load(config: Path, depth: int, sources: list[Path]) -> dict[str, Any]:
    sources.append(config)
    try:
        text = config.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise MkDocsConfigError(config, f"cannot read: {exc}") from None
    data = _parse(text, config)
    parent = data.pop("INHERIT", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise MkDocsConfigError(config, "INHERIT must be a file path")
    if depth >= MAX_INHERIT:
        raise MkDocsConfigError(config, f"INHERIT nested more than {MAX_INHERIT} deep")
    base = _load((config.parent / parent).resolve(), depth + 1, sources)
    return _merge(base, data)


def _merge(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """MkDocs' INHERIT merge: mappings merged key by key, anything else replaced by the child's."""
    out = dict(base)
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _parse(text: str, config: Path) -> dict[str, Any]:
    import yaml

    base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when PyYAML has it

    class _Loader(base):  # type: ignore[misc]
        """A safe loader that reads any unknown tag (`!!python/name:...`, `!ENV`, `!relative`) as
        the plain scalar, list or mapping it is attached to."""

    def plain(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
        if isinstance(node, yaml.MappingNode):
            return loader.construct_mapping(node, deep=True)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node, deep=True)
        return loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode) else None

    _Loader.add_multi_constructor("", plain)
    try:
        data = yaml.load(text, Loader=_Loader)  # a safe loader: builds plain values only
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise MkDocsConfigError(config, f"invalid YAML: {problem}", mark.line + 1 if mark else None) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise MkDocsConfigError(config, "not a YAML mapping")
    return data
