"""What generation asks of an engine (`Engine`), and what the engines share without importing
llama.cpp: settings, results, request messages, the core count."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from alttext_tools.config import Config
from alttext_tools.models.spec import VisionModel


def _cpuinfo() -> list[tuple[str, str]]:
    """(name, value) of every line of /proc/cpuinfo; empty where there is none (not Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            return [(name.strip(), value.strip()) for name, _, value in (line.partition(":") for line in info)]
    except OSError:
        return []


def physical_cores() -> int:
    """Physical cores we may run on: llama.cpp gains nothing from hyperthreads, and its spinning
    worker threads slow down badly when there are more of them than cores."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count() or 1
    cores: set[tuple[str, str]] = set()
    physical = ""
    for name, value in _cpuinfo():
        if name == "physical id":
            physical = value
        elif name == "core id":
            cores.add((physical, value))
    return max(1, min(usable, len(cores) or usable))


def cpu_has_amx() -> bool:
    """Whether this CPU has Intel AMX (int8 tiles: Sapphire Rapids and later Xeons)."""
    return any(name == "flags" and "amx_int8" in value.split() for name, value in _cpuinfo())


@dataclass(frozen=True)
class EngineSettings:
    n_threads: int = field(default_factory=physical_cores)
    # Room for the image (moondream2: 729 tokens; qwen2.5-vl: <= image_max_tokens), the prompt
    # and the answer.
    n_ctx: int = 4096
    n_batch: int = 512  # tokens per llama_decode call (logical batch)
    n_ubatch: int = 512  # tokens per compute graph (physical batch), at most n_batch
    # The cap on answer tokens; a request may ask for fewer (`Engine.generate(max_tokens=...)`).
    max_tokens: int = 120
    temperature: float = 0.0
    flash_attn: bool = True  # retried without if the context cannot be created with it
    use_mmap: bool = True  # map the model file instead of reading it into memory
    # Keep the evaluated prompt text before the image in llama.cpp's KV cache across images, and
    # evaluate only what changed (docs/engines.md, "Prompt prefix reuse").
    prefix_cache: bool = True
    n_gpu_layers: int = -1  # all layers where a GPU backend exists; ignored by CPU builds
    seed: int = 0
    # llama.cpp's extra CPU weight layouts (its AMX and repacked matmuls) for quantized models.
    # None: used, except on CPUs with AMX, where llama.cpp's AMX matmul (in the llama.cpp that
    # llama-cpp-python 0.3.36 vendors) crashes the process on the first quantized layer it runs
    # (docs/engines.md, "AMX").
    extra_buffers: bool | None = None
    # Upper bound on tokens per image for dynamic-resolution projectors (Qwen2.5-VL would use up
    # to 4096, i.e. the whole default context). None keeps llama.cpp's per-model default.
    image_max_tokens: int | None = 1024
    # True lets llama.cpp / mtmd print to stderr, unless an earlier engine in this process already
    # routed the (process-wide) native logs to `logging`.
    verbose: bool = False


def uses_extra_buffers(settings: EngineSettings) -> bool:
    """`settings.extra_buffers`, its default resolved for this machine."""
    return settings.extra_buffers if settings.extra_buffers is not None else not cpu_has_amx()


# Config key -> EngineSettings field, for the llama.cpp settings that keep their value as they are.
_SETTING_FIELDS = {
    "n_ctx": "n_ctx",
    "image_max_tokens": "image_max_tokens",
    "gpu_layers": "n_gpu_layers",
    "batch_size": "n_batch",
    "ubatch_size": "n_ubatch",
    "flash_attn": "flash_attn",
    "mmap": "use_mmap",
    "prefix_cache": "prefix_cache",
}


def engine_settings(config: Config, threads: int | None = None) -> EngineSettings:
    """The llama.cpp settings of `config` (`n_ctx`, `image_max_tokens`, `threads`, `gpu_layers`,
    `batch_size`, `ubatch_size`, `flash_attn`, `mmap`, `prefix_cache`; unset ones keep
    EngineSettings' defaults); `threads`, a command-line flag, wins over the file."""
    values: dict[str, Any] = {}
    if threads or config.threads:
        values["n_threads"] = threads or config.threads
    for key, name in _SETTING_FIELDS.items():
        value = getattr(config, key)
        if value is not None:
            values[name] = value
    if "n_batch" in values and "n_ubatch" not in values:
        values["n_ubatch"] = min(values["n_batch"], EngineSettings.n_ubatch)
    return EngineSettings(**values)


@dataclass(frozen=True)
class Generation:
    text: str
    model_id: str
    handler: str
    json_mode: bool  # True when the JSON-schema grammar constrained the output
    load_s: float  # model loading done by this call (0.0 when it was already loaded)
    # Prompt phase: template, image decode + vision encode, prompt evaluation. The handler does
    # these in one call, so image encoding cannot be split from prompt evaluation; None when the
    # phase boundary was not observed.
    encode_s: float | None
    generate_s: float  # token generation (whole completion when encode_s is None)
    total_s: float
    tokens: int  # completion tokens
    finish_reason: str = "stop"  # "stop" (end of turn) or "length" (hit max_tokens: may be cut off)
    prompt_tokens: int = 0  # tokens evaluated before generating (image tokens included), as reported


class Engine(Protocol):
    """Runs vision models for generation: `engines.llama.LocalEngine` (llama.cpp in process),
    `generate.provider.LazyLocalEngine` (the same, created on first use) and
    `engines.openai.OpenAIEngine` (an OpenAI-compatible server).

    Errors: `errors.ModelUnusableError` when the model cannot be used at all;
    `images.errors.ImageDecodeError` or `errors.GenerationError` about one image.
    """

    @property
    def concurrency(self) -> int:
        """How many requests the engine takes at once; 1 means one image at a time."""
        ...

    @property
    def image_max_tokens(self) -> int | None:
        """Image tokens a dynamic-resolution model gets per image (None: the model's default)."""
        ...

    @property
    def load_counts(self) -> Mapping[str, int]:
        """model_id -> how many times the engine loaded that model in process."""
        ...

    @property
    def loaded_models(self) -> list[str]:
        """model_ids held in memory now."""
        ...

    def prepare(self, model: VisionModel) -> None:
        """Make `model` ready now (load it, or ask the server about it) rather than on the first image."""
        ...

    def generate(
        self,
        model: VisionModel,
        image_png: bytes,
        system: str,
        user: str,
        json_schema: dict[str, Any] | None = None,
        max_tokens: int | None = None,
    ) -> Generation:
        """Describe one image, given as PNG bytes, in at most `max_tokens` answer tokens (None:
        the engine's setting)."""
        ...

    def complete_text(self, model: VisionModel, system: str, user: str) -> Generation:
        """A text-only request to `model`'s language model (translating an alt): no image is
        sent, so no image tokens are evaluated. Plain text out; same errors as `generate`."""
        ...

    def close(self) -> None:
        """Free what the engine holds. Idempotent."""
        ...


# --- requests ------------------------------------------------------------------------------------


def image_data_uri(image_png: bytes) -> str:
    # Handlers urlopen() anything that is not a data: URI; never hand them paths or URLs.
    return "data:image/png;base64," + base64.b64encode(image_png).decode("ascii")


def build_messages(image_png: bytes, system: str, user: str) -> list[dict[str, Any]]:
    content = [
        {"type": "image_url", "image_url": {"url": image_data_uri(image_png)}},
        {"type": "text", "text": user},
    ]
    messages: list[dict[str, Any]] = [{"role": "user", "content": content}]
    if system:
        messages.insert(0, {"role": "system", "content": system})
    return messages


def build_text_messages(system: str, user: str) -> list[dict[str, Any]]:
    """The messages of a text-only request: plain string contents, no image part."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": user}]
    if system:
        messages.insert(0, {"role": "system", "content": system})
    return messages


def strict_json(text: str) -> str:
    """JSON-mode text that strict parsers accept.

    llama-cpp-python 0.3.36's schema grammar allows raw control characters (newlines, tabs)
    inside strings, which `json.loads` rejects; such output is re-serialised. Unparseable text
    (cut off at max_tokens) is returned unchanged.
    """
    try:
        json.loads(text)
        return text
    except ValueError:
        pass
    try:
        return json.dumps(json.loads(text, strict=False), ensure_ascii=False)
    except ValueError:
        return text
