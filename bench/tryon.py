"""Try-on server time for a 1920x1080 selfie with a 3-layer look, against the floor of the same work
without makeup: decode + face detection/mesh + JPEG encode. Targets: ratio <= 1.5, p50 < 80 ms.
Each ``--mesh-views`` count (crops of the face averaged by the landmarker) is measured in the same run.

    .venv/bin/python bench/tryon.py [--requests 60] [--mesh-views 1 2 4]
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from common import machine, percentile_ms  # noqa: E402
from PIL import Image

from tests.conftest import grace_hopper, make_settings
from tests.tiny_model import write_tiny_model
from vision.face import FaceLandmarker
from vision.images import load_image

LOOK = [{"type": "lipstick", "color": "#9B1B30", "finish": "gloss", "intensity": 0.9},
        {"type": "eyeshadow", "color": "#8B7D6B", "finish": "shimmer", "intensity": 0.7},
        {"type": "blush", "color": "#F1A7B5", "finish": "matte", "intensity": 0.6}]


def selfie_1080p() -> bytes:
    """A 1920x1080 frame with a face about a third of its height, like a phone selfie."""
    face = grace_hopper().resize((921, 1080), Image.Resampling.LANCZOS)
    ramp = np.linspace(60, 200, 1920, dtype=np.float32)[None, :, None].repeat(1080, 0).repeat(3, 2)
    canvas = Image.fromarray(ramp.astype(np.uint8))
    canvas.paste(face, (500, 0))
    buffer = io.BytesIO()
    canvas.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--mesh-views", type=int, nargs="+", default=[2])
    args = parser.parse_args()
    upload = selfie_1080p()

    with tempfile.TemporaryDirectory() as work:
        # The try-on path needs no CLIP model or index; the app still wants one to start, so give it a tiny one.
        from app import create_app
        from indexer.runner import IndexJob, run_index
        from indexer.sources.demo import write_demo_catalog
        from vision.embedder import Embedder, EmbedderConfig

        config, weights = write_tiny_model(Path(work) / "model")
        embedder = Embedder(EmbedderConfig(model=str(config), pretrained=str(weights), device="cpu"))
        catalog = write_demo_catalog(Path(work) / "catalog")
        run_index(IndexJob(catalog=catalog, out_dir=Path(work) / "index", show_progress=False), embedder)
        timings = {}
        for views in args.mesh_views:
            landmarker = FaceLandmarker(views=views)
            client = create_app(make_settings(Path(work) / "index", mesh_views=views),
                                background_load=False).test_client()

            def floor() -> None:
                image = load_image(upload)
                landmarker.detect(image)
                image.save(io.BytesIO(), "JPEG", quality=90)

            def served() -> None:
                response = client.post("/api/v1/tryon", data={"image": (io.BytesIO(upload), "selfie.jpg"),
                                                              "looks": json.dumps(LOOK)})
                assert response.status_code == 200, response.get_data(as_text=True)

            for name, function in (("floor", floor), ("served", served)):
                function()
                samples = []
                for _ in range(args.requests):
                    tick = time.perf_counter()
                    function()
                    samples.append(time.perf_counter() - tick)
                timings[views, name] = samples
    print(f"# {machine()}; 1920x1080 JPEG selfie ({len(upload) // 1024} KB), 3-layer look, {args.requests} runs")
    print("| mesh views | floor: decode + detect/mesh + JPEG encode, p50 / p99 (ms) | "
          "POST /api/v1/tryon (server time), p50 / p99 (ms) | ratio at p50 |")
    print("| --- | --- | --- | --- |")
    for views in args.mesh_views:
        floor_ms, served_ms = timings[views, "floor"], timings[views, "served"]
        print(f"| {views} | {percentile_ms(floor_ms, 50):.1f} / {percentile_ms(floor_ms, 99):.1f} | "
              f"{percentile_ms(served_ms, 50):.1f} / {percentile_ms(served_ms, 99):.1f} | "
              f"{percentile_ms(served_ms, 50) / percentile_ms(floor_ms, 50):.2f} |")


if __name__ == "__main__":
    main()
