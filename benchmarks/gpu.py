"""The real-size twins on a GPU: benchmarks/real_size.py with every layer offloaded, on each side.

    python benchmarks/gpu.py [--preset moondream2|qwen2.5-vl-3b|all] [--quant f16] [--images 10]

Needs a GPU build of llama-cpp-python (README, "GPU offload"); llama-mtmd-cli is built with the same
backend (`--backend cuda`: -DGGML_CUDA=ON; metal, vulkan likewise) in a build folder of its own. On
a machine without one, it says so in one line and exits 2, measuring nothing. Twin-measured, as
every real_size figure: time and memory, never quality.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import real_size

BACKENDS = {"cuda": "-DGGML_CUDA=ON", "metal": "-DGGML_METAL=ON", "vulkan": "-DGGML_VULKAN=ON"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="all")
    parser.add_argument("--quant", default="f16")
    parser.add_argument("--images", default="10")
    parser.add_argument("--backend", choices=tuple(BACKENDS), default="cuda", help="llama-mtmd-cli's GPU backend")
    parser.add_argument("--sides", default="alttext,bare,mtmd")
    args = parser.parse_args(argv)
    import llama_cpp

    if not llama_cpp.llama_supports_gpu_offload():
        from alttext_tools.engines.llama import GPU_BUILD_HINT

        print(f"gpu.py: this llama-cpp-python has no GPU backend; {GPU_BUILD_HINT}", file=sys.stderr)
        return 2
    return real_size.main(
        [
            *("--preset", args.preset, "--quant", args.quant, "--images", args.images, "--sides", args.sides),
            *("--threads", str(os.cpu_count() or 1), "--gpu-layers", "all"),
            f"--mtmd-cmake={BACKENDS[args.backend]}",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
