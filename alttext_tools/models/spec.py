"""What identifies a vision model: a text GGUF, its mmproj GGUF, and the chat handler that fits."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, get_args

# Handler names accepted on the CLI and in config (`--handler`), mapped to llama-cpp-python classes
# in engines/llama.py. Keep the names short and stable: they appear in cache entries and JSON reports.
HANDLERS: tuple[str, ...] = ("moondream", "qwen2.5-vl", "llava", "mtmd")
# The router's two model slots: photos go to "fast" (Moondream), text-heavy images to "text" (Qwen2.5-VL).
Slot = Literal["fast", "text"]
SLOTS: tuple[Slot, ...] = get_args(Slot)


class VisionModel(Protocol):
    """What generation needs to know about a model in a slot, wherever it runs: `ModelSpec` (local
    GGUF files) and `engines.openai.ServerModel` (a model id on a server) both are one."""

    @property
    def name(self) -> str:
        """Shown to people: a preset name, a file stem, a server's model id."""
        ...

    @property
    def handler(self) -> str:
        """One of HANDLERS: decides the prompt layout and the image size."""
        ...

    @property
    def model_id(self) -> str:
        """Stable id for reports and cache keys."""
        ...


@dataclass(frozen=True)
class ModelSpec:
    """A loadable model. `name` is the preset name, or the text file's stem for local files."""

    name: str
    text_path: Path
    mmproj_path: Path
    handler: str

    def __post_init__(self) -> None:
        if self.handler not in HANDLERS:
            raise ValueError(f"unknown handler {self.handler!r}; expected one of {', '.join(HANDLERS)}")

    @property
    def model_id(self) -> str:
        """Stable id used in reports and cache keys: preset/handler plus the text file name."""
        return f"{self.name}:{self.handler}:{self.text_path.name}"
