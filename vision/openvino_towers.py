"""CLIP's two towers compiled by OpenVINO for the CPU, the fastest CPU path measured here.

On this machine's Xeon (AVX-512 BF16, AMX) OpenVINO in bf16 takes about 0.64x torch bf16's time for one
image, and less per image in batches, with an embedding cosine of 0.9999 against fp32
(docs/BENCHMARKS.md). It is an optional extra (``pip install 'shoplens[openvino]'``, 180 MB): without it
the embedder keeps torch's own bf16 path. The towers are traced from the loaded open_clip model and
converted in memory when the model loads (a few seconds), so no converted file can go stale.
"""

from __future__ import annotations

import threading
import warnings
from importlib.util import find_spec

import numpy as np
import torch


def openvino_available() -> bool:
    return find_spec("openvino") is not None


class _Tower(torch.nn.Module):
    """One of open_clip's encoders (``encode_image`` or ``encode_text``) as a module's forward, for tracing."""

    def __init__(self, model: torch.nn.Module, encoder: str):
        super().__init__()
        self.model, self.encoder = model, encoder

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return getattr(self.model, self.encoder)(inputs)


class OpenVinoTowers:
    """``encode_image`` / ``encode_text`` like open_clip's, run by OpenVINO (any batch size)."""

    def __init__(self, model: torch.nn.Module, image_size: tuple[int, int], context_length: int, threads: int,
                 bf16: bool):
        """:param bf16: compute in bf16 (where the CPU has it natively); f32 otherwise."""
        import openvino as ov

        height, width = image_size
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about Python control flow open_clip does not take
            # check_trace=False: re-running the trace to compare fails on open_clip for harmless reasons
            image = ov.convert_model(torch.jit.trace(_Tower(model, "encode_image"), torch.zeros(1, 3, height, width),
                                                     check_trace=False), input=[(-1, 3, height, width)])
            text = ov.convert_model(torch.jit.trace(_Tower(model, "encode_text"),
                                                    torch.zeros(1, context_length, dtype=torch.long),
                                                    check_trace=False), input=[((-1, context_length), ov.Type.i64)])
        # No PERFORMANCE_HINT: LATENCY cut batch-32 throughput from ~48 to ~30 images/s for no gain on one image.
        config = {"INFERENCE_PRECISION_HINT": "bf16" if bf16 else "f32",
                  "INFERENCE_NUM_THREADS": int(threads)}  # the same threads rule as torch's (README)
        core = ov.Core()
        self._image, self._text = core.compile_model(image, "CPU", config), core.compile_model(text, "CPU", config)
        self._lock = threading.Lock()  # a compiled model's call uses one inference request: one caller at a time

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        return self._run(self._image, pixels.float())

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        return self._run(self._text, tokens.long())

    def _run(self, compiled, inputs: torch.Tensor) -> torch.Tensor:
        with self._lock:
            features = compiled(np.ascontiguousarray(inputs.numpy()))[0]
            return torch.from_numpy(np.array(features, np.float32))  # a copy: the request reuses its buffer
