"""Project configuration: `[tool.alttext]` in pyproject.toml, or `.alttext.toml`; CLI flags override.

The config file also defines the project root: excludes, the site root and the "outside the
project" boundary for image paths are all relative to the folder that holds it.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeGuard, get_args

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    # Installed on Python 3.10 only (see pyproject.toml), so mypy finds it only there.
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

from alttext_tools.errors import AltTextError
from alttext_tools.text import language_tag

FAIL_LEVELS = ("error", "warning", "never")
# How generation picks a model slot: "auto" follows the router, "fast"/"text" force that slot.
RouterMode = Literal["auto", "fast", "text"]
ROUTER_MODES: tuple[RouterMode, ...] = get_args(RouterMode)
BACKENDS = ("local", "openai")
# The settings of llama.cpp in process (engines.base.engine_settings), for every integration to offer.
ENGINE_SETTINGS = ("n_ctx", "image_max_tokens", "threads", "gpu_layers")
# Describe once, translate (also settings of the MkDocs plugin and the Sphinx extension).
TRANSLATION_SETTINGS = ("translate", "primary_language")
# How Markdown is read: "auto" picks mkdocs or myst per file from the mkdocs.yml or Sphinx conf.py
# that governs it, else commonmark (scan/dialects.py).
DIALECTS = ("auto", "commonmark", "mkdocs", "myst")


class ConfigError(AltTextError):
    """Invalid configuration; one line naming the file and the key."""


def is_router_mode(value: str) -> TypeGuard[RouterMode]:
    return value in ROUTER_MODES


@dataclass
class Config:
    """Settings for one run: defaults, then the config file, then command-line flags."""

    root: Path = field(default_factory=Path.cwd)
    source: Path | None = None  # the config file read, if any
    exclude: list[str] = field(default_factory=list)
    gitignore: bool = True
    fail_on: str = "error"
    max_length: int = 150
    disable: list[str] = field(default_factory=list)
    severity: dict[str, str] = field(default_factory=dict)
    placeholders: list[str] = field(default_factory=list)
    inline_config: bool = True  # honour `alttext-disable...` comments in the sources (check/suppression.py)
    site_root: str | None = None  # where root-relative "/img/x.png" resolves (e.g. MkDocs docs_dir)
    allow_remote: bool = False
    router: str = "auto"
    fast_model: str | None = None  # preset name or path to a text GGUF
    fast_mmproj: str | None = None
    fast_handler: str | None = None
    text_model: str | None = None
    text_mmproj: str | None = None
    text_handler: str | None = None
    language: str | None = None  # force one language for generated alt text
    # Describe once, translate: an image on pages in several languages is described from the
    # image in its primary language (the first a person reviewed, else `primary_language` when
    # it appears there) and translated into the others by text-only calls. False: every language
    # is described from the image.
    translate: bool = True
    primary_language: str | None = "en"  # the site's default language
    cache: str | None = None  # path of the committed alt-text cache file
    jobs: int = 0  # 0 = all cores
    # Where generation runs: "local" (llama.cpp in process) or "openai" (an OpenAI-compatible
    # server at base_url; fast_model/text_model are then the server's model ids).
    backend: str = "local"
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"  # name of the environment variable holding the API key
    concurrency: int = 4  # requests in flight (openai backend)
    timeout: float = 120.0  # seconds per request (openai backend)
    retries: int = 3  # extra attempts on 429 / 5xx / connection errors (openai backend)
    # llama.cpp in process (local backend); None keeps the engine's default (engines.base.EngineSettings).
    n_ctx: int | None = None  # context size in tokens: the image, the prompt and the answer
    image_max_tokens: int | None = None  # tokens per image for dynamic-resolution models (Qwen2.5-VL)
    threads: int | None = None  # CPU threads (default: physical cores)
    gpu_layers: int | None = None  # layers offloaded to the GPU: -1 all, 0 none ("all" / "none" in files)
    batch_size: int | None = None  # prompt tokens per llama_decode call (n_batch)
    ubatch_size: int | None = None  # prompt tokens per compute graph (n_ubatch), at most batch_size
    flash_attn: bool | None = None  # flash attention (default on; off where the backend lacks it)
    mmap: bool | None = None  # map the model files rather than read them into memory (default on)
    prefix_cache: bool | None = None  # reuse the evaluated prompt text before the image (default on)
    # Image tokens a dynamic-resolution model (Qwen2.5-VL) gets for a photo; text-heavy images get
    # image_max_tokens. None: the default of generate.provider (PHOTO_IMAGE_TOKENS).
    photo_image_tokens: int | None = None
    dialect: str = "auto"  # Markdown dialect: one of DIALECTS
    # How each key that was set was written, and where, for messages: ("--model", "command line"),
    # ("fast_model", "/project/pyproject.toml").
    given_as: dict[str, tuple[str, str]] = field(default_factory=dict)

    def site_root_path(self) -> Path:
        return (self.root / self.site_root).resolve() if self.site_root else self.root.resolve()


_FIELDS = {f.name: f for f in dataclasses.fields(Config) if f.name not in ("root", "source", "given_as")}


def find_config(start: Path) -> tuple[Path | None, Path]:
    """(config file or None, project root), searching `start` and its parents."""
    start = start.resolve()
    folder = start if start.is_dir() else start.parent
    for candidate in [folder, *folder.parents]:
        dot = candidate / ".alttext.toml"
        if dot.is_file():
            return dot, candidate
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file() and _has_tool_table(pyproject):
            return pyproject, candidate
    return None, _git_root(folder) or Path.cwd().resolve()


def load_config(start: Path | None = None, explicit: Path | None = None) -> Config:
    """The configuration for a run: `explicit` (a `--config` file), else the nearest one above `start`."""
    path: Path | None
    if explicit is not None:
        path, root = explicit.resolve(), explicit.resolve().parent
    else:
        path, root = find_config(start or Path.cwd())
    config = Config(root=root, source=path)
    if path is None:
        return config
    table = _read_table(path)
    return apply_overrides(config, table, origin=str(path))


def apply_overrides(
    config: Config, values: dict[str, Any], *, origin: str, given_as: Mapping[str, str] | None = None
) -> Config:
    """Set config keys (dashes or underscores) from a file table or CLI flags, type-checked.
    `given_as`: how the user wrote each key (a flag such as "--model"), when not the key itself."""
    for raw_key, value in values.items():
        if value is None:
            continue
        key = raw_key.replace("-", "_")
        spec = _FIELDS.get(key)
        if spec is None:
            raise ConfigError(f"{origin}: unknown key {raw_key!r} (known: {', '.join(sorted(_FIELDS))})")
        setattr(config, key, _coerce(key, value, spec.type, origin))
        config.given_as[key] = ((given_as or {}).get(key, raw_key), origin)
    _validate(config, origin)
    return config


GPU_LAYERS_WORDS = {"all": -1, "none": 0}


def parse_gpu_layers(value: object) -> int:
    """`gpu_layers` as llama.cpp's n_gpu_layers: "all" -> -1, "none" -> 0, a count as it is
    (also given as a string, as a command-line flag is). ValueError for anything else."""
    if isinstance(value, str):
        word = value.strip().lower()
        if word in GPU_LAYERS_WORDS:
            return GPU_LAYERS_WORDS[word]
        try:
            value = int(word)
        except ValueError:
            raise ValueError(f"gpu_layers must be all, none or a number of layers, not {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int) or value < -1:
        raise ValueError(f"gpu_layers must be all, none or a number of layers, not {value!r}")
    return value


def _coerce(key: str, value: Any, annotation: Any, origin: str) -> Any:
    if key == "gpu_layers":
        try:
            return parse_gpu_layers(value)
        except ValueError as exc:
            raise ConfigError(f"{origin}: {exc}") from None
    kind = str(annotation).removesuffix(" | None")
    if kind.startswith("list"):
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{origin}: {key} must be a list of strings")
        return list(value)
    if kind.startswith("dict"):
        if not isinstance(value, dict):
            raise ConfigError(f"{origin}: {key} must be a table")
        return {str(k): str(v) for k, v in value.items()}
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{origin}: {key} must be true or false")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{origin}: {key} must be an integer")
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{origin}: {key} must be a number")
        return float(value)
    if not isinstance(value, str):
        raise ConfigError(f"{origin}: {key} must be a string")
    return value


def _validate(config: Config, origin: str) -> None:
    if config.fail_on not in FAIL_LEVELS:
        raise ConfigError(f"{origin}: fail_on must be one of {', '.join(FAIL_LEVELS)}, not {config.fail_on!r}")
    if config.router not in ROUTER_MODES:
        raise ConfigError(f"{origin}: router must be one of {', '.join(ROUTER_MODES)}, not {config.router!r}")
    if config.max_length < 1:
        raise ConfigError(f"{origin}: max_length must be positive")
    if config.backend not in BACKENDS:
        raise ConfigError(f"{origin}: backend must be one of {', '.join(BACKENDS)}, not {config.backend!r}")
    if config.dialect not in DIALECTS:
        raise ConfigError(f"{origin}: dialect must be one of {', '.join(DIALECTS)}, not {config.dialect!r}")
    if config.concurrency < 1:
        raise ConfigError(f"{origin}: concurrency must be at least 1")
    if config.primary_language is not None and language_tag(config.primary_language) is None:
        raise ConfigError(
            f"{origin}: primary_language must be a language tag such as 'en', not {config.primary_language!r}"
        )
    if not config.timeout > 0:
        raise ConfigError(f"{origin}: timeout must be positive")
    if config.retries < 0:
        raise ConfigError(f"{origin}: retries cannot be negative")
    for name in ("n_ctx", "image_max_tokens", "threads", "batch_size", "ubatch_size", "photo_image_tokens"):
        value = getattr(config, name)
        if value is not None and value < 1:
            raise ConfigError(f"{origin}: {name} must be at least 1")
    for rule, level in config.severity.items():
        if level not in ("error", "warning"):
            raise ConfigError(f"{origin}: severity.{rule} must be 'error' or 'warning'")
    if config.cache and Path(os.path.normpath(config.cache)).parts[:1] == ("..",):  # an absolute path: on purpose
        raise ConfigError(
            f"{origin}: cache = {config.cache!r} is outside the project root {config.root}; "
            "give an absolute path to keep the cache there on purpose"
        )


def _read_table(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except RecursionError:  # tomllib recurses into nested arrays and inline tables
        raise ConfigError(f"{path}: invalid TOML: values are nested too deeply") from None
    if path.name != "pyproject.toml":
        return data
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise ConfigError(f"{path}: `tool` must be a table ([tool.alttext] holds the alttext settings)")
    table = tool.get("alttext", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.alttext] must be a table")
    return table


def _has_tool_table(pyproject: Path) -> bool:
    try:
        text = pyproject.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return "[tool.alttext" in text


def _git_root(folder: Path) -> Path | None:
    for candidate in [folder, *folder.parents]:
        if (candidate / ".git").exists():
            return candidate
    return None
