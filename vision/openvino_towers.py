"""CLIP's two towers compiled by OpenVINO for the CPU, the fastest CPU path measured here.

On this machine's Xeon (AVX-512 BF16, AMX) OpenVINO in bf16 runs one text in about 0.7x torch bf16's
time, with an embedding cosine of 0.9999 against fp32. With the image tower quantized to int8 (weights and
activations, by NNCF's post-training quantization) one image takes about 0.6x OpenVINO bf16's time
(docs/BENCHMARKS.md). It is an optional extra (``pip install 'shoplens[openvino]'``): without it the
embedder keeps torch's own bf16 path. The towers are traced from the loaded open_clip model and converted
in memory when the model loads (a few seconds). Int8 calibration adds 15-20 s for ViT-B-32, so the
quantized tower is kept in a cache folder under a name made of everything it depends on (the weights'
digest, the input size, the recipe, OpenVINO's and NNCF's versions): later processes load it in a second,
and no cached file can outlive what made it. Its probe agreement is recorded beside it, so that ``auto`` does
not rebuild a tower it has refused once.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import warnings
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger(__name__)
INT8_RECIPE = 2  # bump when the calibration pictures or NNCF's settings change: cached towers stop matching
SMOOTH_QUANT = 0.3  # SmoothQuant's strength (see _quantized)


def openvino_available() -> bool:
    return find_spec("openvino") is not None


def int8_available() -> bool:
    """OpenVINO, and NNCF to quantize for it."""
    return openvino_available() and find_spec("nncf") is not None


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
                 bf16: bool, calibration: torch.Tensor | None = None, cache_file: Path | None = None):
        """:param bf16: compute in bf16 (where the CPU has it natively); f32 otherwise.
        :param calibration: preprocessed pictures ``(n, 3, H, W)``; given, the image tower runs in int8, its
            activation ranges measured on them (the text tower stays in bf16 / f32).
        :param cache_file: where the int8 tower is kept between processes (``int8_cache_file``); None: nowhere.
        """
        import openvino as ov

        height, width = image_size

        def converted(encoder: str, example: torch.Tensor, shape):
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tracer warnings about Python control flow open_clip does not take
                # check_trace=False: re-running the trace to compare fails on open_clip for harmless reasons
                return ov.convert_model(torch.jit.trace(_Tower(model, encoder), example, check_trace=False),
                                        input=[shape])

        def image_tower():
            return converted("encode_image", torch.zeros(1, 3, height, width), (-1, 3, height, width))

        image = image_tower() if calibration is None else _cached_int8(image_tower, calibration, cache_file)
        text = converted("encode_text", torch.zeros(1, context_length, dtype=torch.long),
                         ((-1, context_length), ov.Type.i64))
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


def _quantized(model, calibration: torch.Tensor):
    """The image tower in int8, by NNCF's post-training quantization with its transformer preset.

    SmoothQuant moves activation outliers (which trained ViTs have in a few channels) into the weights before
    quantizing. At NNCF's default strength (0.95) a fine sine texture among the probes fell to cosine 0.987
    against fp32; without it, a test model with 60x outlier channels fell to 0.970. At 0.3 both agree to
    0.999 or better (docs/BENCHMARKS.md).
    """
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, AdvancedSmoothQuantParameters

    # Its notes are not for a server's log. Not nncf.set_log_level: that also lowers every handler on the logger
    # to ERROR, pytest's log capture included.
    logging.getLogger("nncf").setLevel(logging.ERROR)
    samples = [np.ascontiguousarray(picture[None].numpy()) for picture in calibration.float()]
    smoothing = AdvancedQuantizationParameters(smooth_quant_alphas=AdvancedSmoothQuantParameters(matmul=SMOOTH_QUANT))
    return nncf.quantize(model, nncf.Dataset(samples), model_type=nncf.ModelType.TRANSFORMER,
                         subset_size=len(samples), advanced_parameters=smoothing)


def int8_cache_file(folder: Path, model_id: str, image_size: tuple[int, int]) -> Path:
    """The cached int8 image tower of one model: its name changes with anything that changes the tower."""
    import nncf
    import openvino as ov

    parts = [model_id, f"{image_size[0]}x{image_size[1]}", f"recipe{INT8_RECIPE}", f"openvino{ov.__version__}",
             f"nncf{nncf.__version__}"]
    return Path(folder).expanduser() / (re.sub(r"[^A-Za-z0-9.+-]+", "_", "-".join(parts)) + ".xml")


def _cached_int8(image_tower, calibration: torch.Tensor, cache_file: Path | None):
    """The int8 image tower from the cache, else ``image_tower()`` quantized (and then cached)."""
    import openvino as ov

    if cache_file is not None and cache_file.is_file():
        try:
            return ov.Core().read_model(str(cache_file))
        except RuntimeError as error:  # a damaged file: quantize again and replace it
            log.warning("Cached int8 tower %s is unreadable (%s); quantizing again", cache_file, error)
    quantized = _quantized(image_tower(), calibration)
    if cache_file is not None:
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            staged = cache_file.with_name(f".{cache_file.stem}.{os.getpid()}.xml")
            ov.save_model(quantized, str(staged), compress_to_fp16=False)  # fp16 would change what was measured
            os.replace(staged.with_suffix(".bin"), cache_file.with_suffix(".bin"))
            os.replace(staged, cache_file)  # the .xml last: a reader finds it only once its weights are there
        except (OSError, RuntimeError) as error:  # a read-only or full disk: still serve, uncached
            log.warning("Could not keep the int8 tower in %s (%s): each process will quantize it", cache_file, error)
    return quantized


def known_int8_agreement(cache_file: Path, probes: str) -> float | None:
    """The probe agreement measured for this cached int8 tower by an earlier process, if any (``probes``: the
    probe set's digest). It spares ``auto`` compiling a tower it already knows it would refuse."""
    try:
        record = json.loads(_agreement_file(cache_file).read_text())
        return float(record["agreement"]) if record.get("probes") == probes else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def keep_int8_agreement(cache_file: Path, probes: str, agreement: float) -> None:
    """Record the probe agreement beside the cached tower (best effort: a read-only cache only costs time)."""
    target = _agreement_file(cache_file)
    staged = target.with_name(f".{target.name}.{os.getpid()}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staged.write_text(json.dumps({"probes": probes, "agreement": agreement}))
        os.replace(staged, target)
    except OSError as error:
        log.warning("Could not record the int8 tower's probe agreement in %s (%s)", target, error)


def _agreement_file(cache_file: Path) -> Path:
    return cache_file.with_suffix(".agreement.json")
