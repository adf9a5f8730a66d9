"""Shop the look on busy scenes: how many pasted products are found, how many false items, and the cost.

``tests.busy_scenes``: 40 catalog product shots; 50 scenes of 2-4 of them pasted at 22-42 % of the short
side onto clutter (noise, gradients, lines and shapes from no product). A pasted product counts as found
when an item's box overlaps it with IoU >= 0.5 and that item's top-5 holds the product; an item matching
no pasted product that way is a false item.

Each model runs the production path: the catalog indexed into a version, ``POST /api/v1/search`` with
``detect=true`` through the Flask app (uploads, decoding, batcher, face check, filtered searches):

- ViT-B-32 with random weights (the real architecture and cost) and the tiny test model: random weights
  rank nothing meaningfully, so their found share says little about the method;
- a colour-histogram "model" (``tests.histogram_model``) whose embedding is meaningful for these scenes,
  behind the same batcher, to show the method itself.

Latency (ViT-B-32): p50 of ``detect=true`` against p50 of the same photo searched plainly, the two alternated
scene by scene in one run. Target: <= 4x.

    .venv/bin/python bench/shop_the_look.py [--scenes 50] [--work /tmp/shoplens-bench]
"""

from __future__ import annotations

import argparse
import io
import subprocess
import tempfile
import time
from pathlib import Path

from common import ROOT, machine, median, random_checkpoint  # noqa: E402  (sys.path set in common)

from app import create_app
from app.settings import Settings
from tests.busy_scenes import Scene, product_shot, scene, scored_scene
from tests.histogram_model import HistogramModel, write_histogram_index
from tests.tiny_model import write_tiny_model

PRODUCTS = 40


def write_catalog(folder: Path) -> Path:
    (folder / "images").mkdir(parents=True, exist_ok=True)
    lines = ["id,title,image,category,price"]
    for i in range(PRODUCTS):
        product_shot(i).save(folder / "images" / f"{i}.jpg", "JPEG", quality=92)
        lines.append(f"p{i},Product {i},images/{i}.jpg,{['bags', 'dresses'][i % 2]},{10 + i}")
    (folder / "catalog.csv").write_text("\n".join(lines) + "\n")
    return folder / "catalog.csv"


def clip_index(work: Path, catalog: Path, name: str, model: str, pretrained: str) -> Path:
    index = work / f"look-index-{name}"
    if not (index / "current").exists():
        subprocess.run([str(ROOT / ".venv/bin/python"), "-m", "app.cli", "index", "--catalog", str(catalog), "--out",
                        str(index), "--model", model, "--pretrained", pretrained, "--device", "cpu"],
                       check=True, cwd=ROOT, capture_output=True)
    return index


def histogram_index(work: Path) -> Path:
    index = work / "look-index-histogram"
    if not (index / "current").exists():
        write_histogram_index(index, [product_shot(i) for i in range(PRODUCTS)])
    return index


def run(app, scenes: list[Scene], photos: list[bytes]) -> dict:
    client = app.test_client()
    found = pasted = false = 0
    plain, detect = [], []
    for shot, jpeg in zip(scenes, photos):
        tick = time.perf_counter()
        assert client.post("/api/v1/search?k=5", data={"image": (io.BytesIO(jpeg), "s.jpg")}).status_code == 200
        plain.append(time.perf_counter() - tick)
        tick = time.perf_counter()
        response = client.post("/api/v1/search?k=5&detect=true", data={"image": (io.BytesIO(jpeg), "s.jpg")})
        detect.append(time.perf_counter() - tick)
        assert response.status_code == 200, response.get_data(as_text=True)
        items = [(item["box"], [int(hit["id"][1:]) for hit in item["results"]])
                 for item in response.get_json()["items"]]
        hits, wrong = scored_scene(shot, items)
        found, pasted, false = found + hits, pasted + len(shot.items), false + wrong
    return {"found": found / pasted, "false": false / len(scenes), "plain": median(plain) * 1000,
            "detect": median(detect) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenes", type=int, default=50)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "shoplens-bench")
    args = parser.parse_args()
    work = args.work
    catalog = write_catalog(work / "look-catalog")
    scenes = [scene(seed, PRODUCTS) for seed in range(args.scenes)]
    photos = []
    for shot in scenes:
        buffer = io.BytesIO()
        shot.image.save(buffer, "JPEG", quality=90)
        photos.append(buffer.getvalue())
    tiny_config, tiny_weights = write_tiny_model(work / "tiny-model")
    models = {
        "ViT-B-32, random weights": clip_index(work, catalog, "vit", "ViT-B-32", str(random_checkpoint(work))),
        "tiny test model": clip_index(work, catalog, "tiny", str(tiny_config), str(tiny_weights)),
    }
    print(f"# {machine()}, {args.scenes} scenes, {sum(len(s.items) for s in scenes)} pasted products")
    print("| model | found (IoU >= 0.5, in top-5) | false items per scene | photo search p50 (ms) "
          "| detect=true p50 (ms) | ratio |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, index in models.items():
        app = create_app(Settings(index_dir=str(index), device="cpu", reload_interval=0.0, search_rate_limit=""),
                         background_load=False)
        _row(name, run(app, scenes, photos))
    app = create_app(Settings(index_dir=str(histogram_index(work)), device="cpu", reload_interval=0.0,
                              search_rate_limit=""), background_load=False, model=HistogramModel())
    _row("colour histogram (test model)", run(app, scenes, photos))


def _row(name: str, result: dict) -> None:
    print(f"| {name} | {result['found']:.0%} | {result['false']:.2f} | {result['plain']:.1f} | "
          f"{result['detect']:.1f} | {result['detect'] / result['plain']:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
