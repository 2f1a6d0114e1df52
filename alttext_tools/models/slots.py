"""Which model each router slot uses: a preset from the local Hugging Face cache, or local GGUF
files given by path; and the one-line errors when the configured models cannot be set up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from alttext_tools.config import Config
from alttext_tools.errors import ModelFileError
from alttext_tools.models.gguf_check import check_model_pair
from alttext_tools.models.hub import ModelError, ModelNotAvailableError, hub_cache_dir, resolve_local
from alttext_tools.models.lock import LockFileError, lock_path
from alttext_tools.models.presets import PRESETS, UnknownPresetError, get_preset
from alttext_tools.models.spec import HANDLERS, SLOTS, ModelSpec, VisionModel

DEFAULT_PRESETS: Mapping[str, str] = {"fast": "moondream2-q4_k_m", "text": "qwen2.5-vl-3b"}
DEFAULT_LOCAL_HANDLER = "mtmd"  # --model PATH without --handler: llama.cpp's generic mtmd path


# --- slots ---------------------------------------------------------------------------------------


class ModelSetupError(ModelError):
    """The models cannot be set up at all; one line, the CLI prints it and exits."""


class NoModelError(ModelSetupError):
    """Neither slot has a usable model; the message says what is missing and how to get it."""


class ModelPathError(ModelSetupError):
    """A model given explicitly (path, preset name, handler) is wrong: never a silent fallback."""


@dataclass(frozen=True)
class Slots:
    """The model for each router slot (local files, or a server's model ids with the openai
    backend); a slot without one keeps the one-line reason."""

    fast: VisionModel | None = None
    text: VisionModel | None = None
    reasons: Mapping[str, str] = field(default_factory=dict)

    def get(self, slot: str) -> VisionModel | None:
        return {"fast": self.fast, "text": self.text}[slot]

    @property
    def available(self) -> dict[str, VisionModel]:
        return {slot: spec for slot in SLOTS if (spec := self.get(slot)) is not None}


def spec_from_paths(model: Path, mmproj: Path, handler: str) -> ModelSpec:
    """A ModelSpec for local GGUF files (--model/--mmproj), checked before llama.cpp sees them.
    Raises ModelPathError."""
    if handler not in HANDLERS:
        raise ModelPathError(f"unknown handler {handler!r}; expected one of {', '.join(HANDLERS)}")
    checked: list[Path] = []
    for label, raw in (("model", model), ("mmproj", mmproj)):
        # abspath, not resolve(): a HF snapshot symlink keeps its readable name (it names the model).
        path = Path(os.path.abspath(Path(raw).expanduser()))
        if not path.exists():
            raise ModelPathError(f"{label} file not found: {path}")
        if not path.is_file():
            raise ModelPathError(f"{label} path is not a file: {path}")
        if not os.access(path, os.R_OK):
            raise ModelPathError(f"{label} file is not readable: {path}")
        checked.append(path)
    text_path, mmproj_path = checked
    if os.path.samefile(text_path, mmproj_path):
        raise ModelPathError(
            f"model and mmproj are the same file ({text_path}); the mmproj is the separate vision projector GGUF"
        )
    return ModelSpec(name=text_path.stem, text_path=text_path, mmproj_path=mmproj_path, handler=handler)


def _looks_like_path(value: str) -> bool:
    return "/" in value or os.sep in value or value.lower().endswith(".gguf") or value.startswith(("~", "."))


def _local_path(value: str, root: Path) -> Path:
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else root / path


def _given(config: Config, key: str) -> tuple[str, str]:
    """(how the user wrote `key`, where): ("--model", "command line"), ("fast_model", "pyproject.toml").
    A key set in code reads as the slot's own flag."""
    return config.given_as.get(key, ("--" + key.replace("_", "-"), "command line"))


def _setting(config: Config, key: str) -> str:
    """`key` with its value, as the user gave it: "--model x.gguf", "fast_model 'x.gguf' in pyproject.toml"."""
    spelled, origin = _given(config, key)
    value = getattr(config, key)
    if spelled.startswith("--"):
        return f"{spelled} {value}"
    return f"{spelled} {str(value)!r} in {origin}"


def _sibling(config: Config, key: str, what: str) -> str:
    """The option for a path `what` ("mmproj", "model") written the way `key` was: "--model" ->
    "--mmproj PATH", "--fast-model" -> "--fast-mmproj PATH", "fast_model" (a file's key) -> "fast_mmproj"."""
    spelled = _given(config, key)[0]
    stem = spelled.rsplit(key.split("_", 1)[1], 1)[0]
    return f"{stem}{what} PATH" if spelled.startswith("--") else f"{stem}{what}"


def _resolve_slot(config: Config, slot: str, cache_dir: Path | None) -> tuple[ModelSpec | None, str | None]:
    model_key, mmproj_key, handler_key = f"{slot}_model", f"{slot}_mmproj", f"{slot}_handler"
    model = getattr(config, model_key)
    mmproj = getattr(config, mmproj_key)
    handler = getattr(config, handler_key)
    if model is None and mmproj is not None:
        given = _given(config, mmproj_key)[0]
        raise ModelPathError(
            f"{given} is set but no model is: pass {_sibling(config, mmproj_key, 'model')} (the text GGUF) as well"
        )
    name = model or DEFAULT_PRESETS[slot]
    if name in PRESETS:
        preset = get_preset(name)
        if mmproj is not None:
            raise ModelPathError(
                f"{_setting(config, mmproj_key)}: an mmproj is only for a model given by path;"
                f" preset {name} brings its own mmproj"
            )
        if handler is not None and handler != preset.handler:
            raise ModelPathError(
                f"preset {name} uses the {preset.handler} handler, not {handler}; drop {_given(config, handler_key)[0]}"
            )
        try:
            spec = resolve_local(name, cache_dir=cache_dir, lock=lock_path(config.root))
        except ModelNotAvailableError as err:
            return None, str(err)
        except LockFileError as err:
            raise ModelSetupError(str(err)) from None
        try:  # a damaged download fails here, once, rather than on every image
            check_model_pair(spec.text_path, spec.mmproj_path, spec.handler)
        except ModelFileError as err:
            raise ModelPathError(
                f"preset {name}: {err}; delete the file and run `alttext models pull {name}` again"
            ) from None
        return spec, None
    if not _looks_like_path(name) and not _local_path(name, config.root).exists():
        raise ModelPathError(
            f"{_setting(config, model_key)}: {UnknownPresetError(name)}, or give the path of a text GGUF file"
        )
    if mmproj is None:
        raise ModelPathError(
            f"{_setting(config, model_key)}: a model path needs {_sibling(config, model_key, 'mmproj')}"
            " (its vision projector GGUF)"
        )
    try:
        spec = spec_from_paths(
            _local_path(name, config.root), _local_path(mmproj, config.root), handler or DEFAULT_LOCAL_HANDLER
        )
    except ModelPathError as err:
        raise ModelPathError(f"{_setting(config, model_key)}: {err}") from None
    try:  # a pair that cannot work (a moondream model with a qwen projector) is set up wrong
        check_model_pair(spec.text_path, spec.mmproj_path, spec.handler)
    except ModelFileError as err:
        key = model_key if err.path == spec.text_path else mmproj_key
        raise ModelPathError(f"{_given(config, key)[0]}: {err}") from None
    return spec, None


def resolve_slots(config: Config, *, cache_dir: Path | None = None) -> Slots:
    """The model for each slot from config (presets from the local HF cache, no network; or local
    files). Raises ModelPathError for an explicit model that is wrong and NoModelError when no
    slot has a model. Relative model paths are taken from `config.root` (the CLI should pass
    absolute ones)."""
    specs: dict[str, ModelSpec | None] = {}
    reasons: dict[str, str] = {}
    for slot in SLOTS:
        spec, reason = _resolve_slot(config, slot, cache_dir)
        specs[slot] = spec
        if reason is not None:
            reasons[slot] = reason
    slots = Slots(fast=specs["fast"], text=specs["text"], reasons=reasons)
    if not slots.available:
        missing: list[str] = []
        for slot in SLOTS:
            name = getattr(config, f"{slot}_model") or DEFAULT_PRESETS[slot]
            phrase = f"{name} is not downloaded (run `alttext models pull {name}` when online)"
            if phrase not in missing:
                missing.append(phrase)
        cache = cache_dir or hub_cache_dir()
        raise NoModelError(
            f"no model available: {' and '.join(missing)}; or pass --model PATH --mmproj PATH "
            f"(looked in the Hugging Face cache {cache})"
        )
    return slots
