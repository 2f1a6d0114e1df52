"""The app's settings: Django's `ALTTEXT = {...}` as an alttext `Config`, validated, one line per mistake."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from alttext_tools.config import Config, ConfigError, apply_overrides
from alttext_tools.models.spec import SLOTS

# Keys of ALTTEXT that are not Config keys.
APP_KEYS = ("models", "on_upload", "serve_url")


def alttext_settings() -> Mapping[str, Any]:
    """Django's `settings.ALTTEXT` (an empty dict when unset)."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    value = getattr(settings, "ALTTEXT", {})
    if not isinstance(value, Mapping):
        raise ImproperlyConfigured(f"ALTTEXT must be a dict, not {type(value).__name__}")
    return value


def project_config(values: Mapping[str, Any] | None = None) -> Config:
    """The alttext Config that `values` (default: settings.ALTTEXT) describe. The project root,
    where the alt-text cache lives, is settings.BASE_DIR (else the working directory).

    `models` names the models: one preset, model id or GGUF path for both slots, or a dict by slot
    ("fast", "text") of such names or of dicts with "model", "mmproj" and "handler". Any other key
    is an `[tool.alttext]` key: backend, base_url, language, gpu_layers, n_ctx, threads, cache...
    (`on_upload` and `serve_url` are the app's own: see docs/integrations.md).
    ImproperlyConfigured, one line, when a value is wrong."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    values = alttext_settings() if values is None else values
    root = Path(getattr(settings, "BASE_DIR", None) or Path.cwd())
    config = Config(root=root.resolve())
    overrides = {key: value for key, value in values.items() if key not in APP_KEYS}
    try:
        overrides.update(_model_keys(values.get("models")))
        apply_overrides(config, overrides, origin="settings.ALTTEXT")
    except ConfigError as exc:
        raise ImproperlyConfigured(str(exc)) from None
    return config


def serve_url() -> str | None:
    """The URL of a running `alttext serve` that writes the descriptions (ALTTEXT["serve_url"]), or None."""
    value = alttext_settings().get("serve_url")
    return str(value) if value else None


def on_upload() -> bool:
    """Whether a new image with an empty description gets one (ALTTEXT["on_upload"], default True)."""
    return bool(alttext_settings().get("on_upload", True))


def _model_keys(models: object) -> dict[str, object]:
    if models is None:
        return {}
    if isinstance(models, str):
        return {f"{slot}_model": models for slot in SLOTS}
    if not isinstance(models, Mapping):
        raise ConfigError("settings.ALTTEXT: models must be a name or a dict by slot (fast, text)")
    keys: dict[str, object] = {}
    for slot, spec in models.items():
        if slot not in SLOTS:
            raise ConfigError(f"settings.ALTTEXT: models has no slot {slot!r} (slots: {', '.join(SLOTS)})")
        if isinstance(spec, str):
            keys[f"{slot}_model"] = spec
        elif isinstance(spec, Mapping) and set(spec) <= {"model", "mmproj", "handler"}:
            keys.update({f"{slot}_{part}": value for part, value in spec.items()})
        else:
            raise ConfigError(
                f"settings.ALTTEXT: models[{slot!r}] must be a name or a dict of model, mmproj and handler"
            )
    return keys
