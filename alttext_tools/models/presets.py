"""The one place that names downloadable models: Hugging Face repo, revision, file names, handler.

Everything else (hub.py, the CLI, config) refers to models by preset name only, so swapping a
quantisation or pinning a revision is a one-line change here. Provenance: docs/models.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

from alttext_tools.errors import AltTextError
from alttext_tools.models.spec import HANDLERS, Slot


class UnknownPresetError(AltTextError, LookupError):
    """Raised for a preset name that is not in PRESETS; the message lists the valid names."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"unknown model preset {name!r}; choose from: {', '.join(PRESETS)}")


@dataclass(frozen=True)
class Preset:
    """A vision model that `alttext models pull` can fetch: a text GGUF plus its mmproj GGUF."""

    name: str
    repo_id: str
    # A 40-hex commit pins the files for every project. A branch ("main") leaves the pin to the
    # project's lock file (models/lock.py): the first pull records the commit the branch was at.
    revision: str
    text_file: str
    mmproj_file: str
    handler: str
    download_size: int  # approximate bytes for both files together; shown before a pull
    slot: Slot  # "fast": quick first-pass captions; "text": images with text in them (OCR-heavy)
    description: str
    # A llama.cpp type the text model is quantized to once, by `pull`, when the repository
    # publishes only f16 (hub.quantized_text_path); None: the files are used as downloaded.
    quantize: str | None = None

    def __post_init__(self) -> None:
        if self.handler not in HANDLERS:
            raise ValueError(f"preset {self.name}: unknown handler {self.handler!r}")

    @property
    def files(self) -> tuple[str, str]:
        return (self.text_file, self.mmproj_file)


# Revisions: every preset follows "main" until a project's first pull locks the commit it got.
# No commit is written here unless it was read from the Hub: a hash is never guessed.
# Source: https://huggingface.co/ggml-org/moondream2-20250414-GGUF
# The text model is a phi2-architecture GGUF (moondream2 = SigLIP + Phi); "_ct-vicuna" is the
# chat-template variant ggml-org ships. The conversion is f16 only, hence the size.
# Sizes: 2_839_535_072 (text) + 909_777_984 (mmproj), from a public project pinning both.
_MOONDREAM2 = Preset(
    name="moondream2",
    repo_id="ggml-org/moondream2-20250414-GGUF",
    revision="main",
    text_file="moondream2-text-model-f16_ct-vicuna.gguf",
    mmproj_file="moondream2-mmproj-f16-20250414.gguf",
    handler="moondream",
    download_size=3_749_313_056,
    slot="fast",
    description="Moondream2 (2025-04-14), ~1.9B, phi2 text model, f16: the weights as published",
)

_PRESET_LIST: tuple[Preset, ...] = (
    _MOONDREAM2,
    # The same download, its text model quantized to Q4_K_M by `pull` (llama.cpp's quantizer, in
    # process): the fast slot's default, chosen from benchmarks/levers.py (docs/engines.md).
    replace(
        _MOONDREAM2,
        name="moondream2-q4_k_m",
        description="Moondream2, text model quantized to Q4_K_M once after download: faster on CPU (default)",
        quantize="Q4_K_M",
    ),
    # Source: https://huggingface.co/ggml-org/Qwen2.5-VL-3B-Instruct-GGUF
    # The repo also has a Q8_0 mmproj (~0.8 GB); f16 is kept for projector quality.
    # Sizes: 1_929_901_056 (Q4_K_M) + 1_338_428_128 (f16 mmproj), two public sources agree.
    Preset(
        name="qwen2.5-vl-3b",
        repo_id="ggml-org/Qwen2.5-VL-3B-Instruct-GGUF",
        revision="main",
        text_file="Qwen2.5-VL-3B-Instruct-Q4_K_M.gguf",
        mmproj_file="mmproj-Qwen2.5-VL-3B-Instruct-f16.gguf",
        handler="qwen2.5-vl",
        download_size=3_268_329_184,
        slot="text",
        description="Qwen2.5-VL 3B Instruct, Q4_K_M: reads text in screenshots and diagrams",
    ),
    # The same repository's Q8_0 text model: practically lossless, larger and slower on a CPU.
    # Size: ~3.29e9 (3.09e9 weights at 8.5 bits, estimate) + the f16 mmproj above.
    Preset(
        name="qwen2.5-vl-3b-q8_0",
        repo_id="ggml-org/Qwen2.5-VL-3B-Instruct-GGUF",
        revision="main",
        text_file="Qwen2.5-VL-3B-Instruct-Q8_0.gguf",
        mmproj_file="mmproj-Qwen2.5-VL-3B-Instruct-f16.gguf",
        handler="qwen2.5-vl",
        download_size=4_630_000_000,
        slot="text",
        description="Qwen2.5-VL 3B Instruct, Q8_0: as the 3B preset, nearly lossless, slower on CPU",
    ),
    # Source: https://huggingface.co/ggml-org/Qwen2.5-VL-7B-Instruct-GGUF
    # Sizes: ~4.68e9 (Q4_K_M) + ~1.35e9 (f16 mmproj, unverified estimate).
    Preset(
        name="qwen2.5-vl-7b",
        repo_id="ggml-org/Qwen2.5-VL-7B-Instruct-GGUF",
        revision="main",
        text_file="Qwen2.5-VL-7B-Instruct-Q4_K_M.gguf",
        mmproj_file="mmproj-Qwen2.5-VL-7B-Instruct-f16.gguf",
        handler="qwen2.5-vl",
        download_size=6_030_000_000,
        slot="text",
        description="Qwen2.5-VL 7B Instruct, Q4_K_M: best text reading, needs ~8 GB RAM",
    ),
)

# Read-only: presets are code, not runtime state. Order is the display order of `models list`.
PRESETS: Mapping[str, Preset] = MappingProxyType({p.name: p for p in _PRESET_LIST})


def get_preset(name: str) -> Preset:
    """Look a preset up by name; UnknownPresetError (listing valid names) if there is none."""
    try:
        return PRESETS[name]
    except KeyError:
        raise UnknownPresetError(name) from None
