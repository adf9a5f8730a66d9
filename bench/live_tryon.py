"""Live try-on speed in headless Chromium (software WebGL, no GPU): frames per second and per-frame time
(landmarks, render) at 640x480 with a 4-layer look, the camera being a Y4M clip of a real face.
Target: >= 15 fps on this 2-core machine (a phone's GPU is faster than SwiftShader).

    .venv/bin/python bench/live_tryon.py [--seconds 15] [--runs 3] [--look lipstick,blush]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from common import machine  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.browser import camera_page, running_server  # noqa: E402
from tests.fake_camera import face_frames, write_y4m  # noqa: E402
from tests.tiny_model import write_tiny_model  # noqa: E402

LOOK_TYPES = ("lipstick", "eyeshadow", "eyeliner", "blush")


def build_index(work: Path) -> Path:
    """The demo catalog indexed with a tiny CLIP model: live try-on needs the shades, not the model."""
    from indexer.runner import IndexJob, run_index
    from indexer.sources.demo import write_demo_catalog
    from vision.embedder import Embedder, EmbedderConfig

    config, weights = write_tiny_model(work / "model")
    embedder = Embedder(EmbedderConfig(model=str(config), pretrained=str(weights), device="cpu"))
    catalog = write_demo_catalog(work / "catalog")
    run_index(IndexJob(catalog=catalog, out_dir=work / "index", show_progress=False), embedder)
    return work / "index"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=15.0, help="measured time after a 5 s warm-up")
    parser.add_argument("--look", default=",".join(LOOK_TYPES), help="product types worn, comma-separated")
    parser.add_argument("--runs", type=int, default=3, help="measured windows, back to back (software WebGL is "
                                                           "noisy: the median is the figure)")
    args = parser.parse_args()
    look_types = [kind for kind in args.look.split(",") if kind]
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        video = write_y4m(work / "face.y4m", face_frames(60), fps=30)
        with running_server("--index", str(build_index(work)), "--reload-interval", "0") as server:
            with urllib.request.urlopen(server + "/api/v1/tryon/products") as response:
                groups = json.load(response)["groups"]
            look = [(groups[kind][0]["shades"] or [groups[kind][0]])[0]["id"] for kind in look_types if kind in groups]
            with camera_page(video, width=800, height=900) as page:
                page.goto(server + "/")
                page.click("#tab-tryon")
                page.wait_for_selector(".swatch")
                for product_id in look:
                    page.locator(f'.swatch[data-product-id="{product_id}"]').first.click()
                page.click("#mode-live")
                page.wait_for_function("window.shoplensLive.state.tracking", timeout=120_000)
                time.sleep(5)
                windows = []  # (state before, state after, seconds): back to back, one page
                for _ in range(args.runs):
                    first, started = page.evaluate("window.shoplensLive.state"), time.monotonic()
                    time.sleep(args.seconds)
                    windows.append((first, page.evaluate("window.shoplensLive.state"), time.monotonic() - started))
                renderer = page.evaluate("""() => {
                  const gl = document.createElement("canvas").getContext("webgl2");
                  const info = gl.getExtension("WEBGL_debug_renderer_info");
                  return gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER);
                }""")
    rates = [(last["frames"] - first["frames"]) / elapsed for first, last, elapsed in windows]
    first, last = windows[0][0], windows[-1][1]
    frames, tracked = last["frames"] - first["frames"], last["tracked"] - first["tracked"]
    print(f"# {machine()}; headless Chromium, WebGL: {renderer}")
    print(f"# {last['width']}x{last['height']} camera (Y4M, 30 fps), look: {', '.join(last['drawn'])}; "
          f"{frames} frames in {len(windows)} windows of {args.seconds:g} s")
    print("| measure | value |")
    print("| --- | --- |")
    print(f"| frames per second, median of the windows | {statistics.median(rates):.1f} |")
    if len(rates) > 1:
        print(f"| frames per second, each window | {', '.join(f'{rate:.1f}' for rate in rates)} |")
    print(f"| face tracked in | {tracked / max(frames, 1):.0%} of frames |")
    print(f"| landmarks per frame (mean of last 30, ms) | {last['landmarkMs']:.1f} |")
    print(f"| render per frame (mean of last 30, ms) | {last['renderMs']:.1f} |")


if __name__ == "__main__":
    main()
