"""Live try-on in real Chromium with a fake camera playing a real face: tracking, colour, split, privacy."""

from __future__ import annotations

import base64
import io
import itertools
import json
import urllib.request

import numpy as np
import pytest
from PIL import Image

from tests.browser import camera_page, requires_chromium, running_server
from tests.fake_camera import face_frames, write_y4m

pytestmark = [pytest.mark.browser, requires_chromium]

CANVAS_PIXELS = "() => window.shoplensLive.capture()"  # the frame with the makeup drawn over it
IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"RIFF", b"data:image")


@pytest.fixture(scope="module")
def server(makeup_index):
    with running_server("--index", str(makeup_index), "--reload-interval", "0") as base:
        yield base


@pytest.fixture(scope="module")
def camera_video(tmp_path_factory):
    return write_y4m(tmp_path_factory.mktemp("camera") / "face.y4m", face_frames(30))


@pytest.fixture(scope="module")
def live_config(server):
    with urllib.request.urlopen(server + "/api/v1/tryon/live") as response:
        return json.load(response)


@pytest.fixture(scope="module")
def lipsticks(server):
    with urllib.request.urlopen(server + "/api/v1/tryon/products") as response:
        lines = json.load(response)["groups"]["lipstick"]
    return [shade for line in lines for shade in (line["shades"] or [line])]


def canvas_image(page) -> np.ndarray:
    data = page.evaluate(CANVAS_PIXELS).split(",", 1)[1]
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"))


def polygon_mask(shape, landmarks, ids) -> np.ndarray:
    from PIL import ImageDraw

    canvas = Image.new("L", (shape[1], shape[0]), 0)
    points = [(landmarks[2 * i], landmarks[2 * i + 1]) for i in ids]
    ImageDraw.Draw(canvas).polygon(points, fill=255)
    return np.asarray(canvas) > 0


def lip_interior(shape, landmarks, config) -> np.ndarray:
    from scipy.ndimage import binary_erosion

    lips = polygon_mask(shape, landmarks, config["regions"]["lips_outer"])
    opening = polygon_mask(shape, landmarks, config["regions"]["mouth_opening"])
    return binary_erosion(lips & ~opening, iterations=2)


def mean_lab(pixels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    from vision.color import image_to_lab

    return image_to_lab(pixels[mask].reshape(-1, 1, 3)).reshape(-1, 3).mean(axis=0)


def shade_distance(pixels, mask, hex_colour) -> float:
    from vision.color import ciede2000, parse_hex, rgb_to_lab

    return float(ciede2000(mean_lab(pixels, mask)[None, :], rgb_to_lab(parse_hex(hex_colour))[None, :])[0])


def pick(page, product_id: str) -> None:
    page.locator(f'.swatch[data-product-id="{product_id}"]').first.click()


def start_live(page, server: str, product_id: str | None = None) -> None:
    page.goto(server + "/")
    page.click("#tab-tryon")
    page.wait_for_selector(".swatch")
    if product_id:
        pick(page, product_id)
    page.click("#mode-live")
    page.wait_for_function("window.shoplensLive.state.tracking && window.shoplensLive.state.frames >= 5",
                           timeout=60_000)


def set_split(page, percent: int) -> None:
    page.locator("#live-split").fill(str(percent))


def frozen_before_after(page):
    """The frozen frame with the look (split 0) and without it (split 100), and its landmarks."""
    if not page.evaluate("window.shoplensLive.state.frozen"):
        page.click("#live-snapshot")
    page.wait_for_function("window.shoplensLive.state.frozen")
    set_split(page, 0)
    after = canvas_image(page)
    set_split(page, 100)
    before = canvas_image(page)
    set_split(page, 0)
    return before, after, page.evaluate("window.shoplensLive.state")


def test_live_tracks_the_face_and_paints_the_lips_only(server, camera_video, live_config, lipsticks):
    shade = lipsticks[0]
    with camera_page(camera_video) as page:
        start_live(page, server, shade["id"])
        before, after, state = frozen_before_after(page)
        assert state["drawn"] == ["lipstick"] and state["width"] == 640 and state["height"] == 480
        lips = lip_interior(before.shape, state["landmarks"], live_config)
        assert lips.sum() > 120, "the lips of the fake camera's face were found"
        # The lips moved toward the shade, by a clear margin.
        assert shade_distance(after, lips, shade["shade_hex"]) < shade_distance(before, lips, shade["shade_hex"]) - 5
        # Outside the face (grown by a margin) not one pixel changed.
        face = polygon_mask(before.shape, state["landmarks"], live_config["regions"]["face_oval"])
        from scipy.ndimage import binary_dilation

        outside = ~binary_dilation(face, iterations=6)
        assert np.array_equal(before[outside], after[outside])
        assert (np.abs(after.astype(int) - before.astype(int)).sum(axis=2) > 0)[lips].mean() > 0.9


def test_switching_shade_reaches_the_lips_within_a_few_frames(server, camera_video, live_config, lipsticks):
    first = lipsticks[0]
    second = max(lipsticks, key=lambda shade: _hex_distance(shade["shade_hex"], first["shade_hex"]))
    with camera_page(camera_video) as page:
        start_live(page, server, first["id"])
        # Tap the shade and freeze the view three frames later, all in the page (no round trip in between).
        frames = page.evaluate("""(id) => new Promise((resolve) => {
          document.querySelector(`.swatch[data-product-id="${id}"]`).click();
          const start = window.shoplensLive.state.frames;
          const check = () => {
            if (window.shoplensLive.state.frames < start + 3) return requestAnimationFrame(check);
            document.getElementById("live-snapshot").click();
            resolve(start);
          };
          check();
        })""", second["id"])
        _, after, state = frozen_before_after(page)
        assert state["frames"] <= frames + 4, "the snapshot shows one of the first frames after the switch"
        lips = lip_interior(after.shape, state["landmarks"], live_config)
        assert shade_distance(after, lips, second["shade_hex"]) < shade_distance(after, lips, first["shade_hex"])


def test_the_before_after_split(server, camera_video, lipsticks):
    with camera_page(camera_video) as page:
        start_live(page, server, lipsticks[0]["id"])
        before, after, state = frozen_before_after(page)
        set_split(page, 50)
        split = canvas_image(page)
        half = split.shape[1] // 2
        # "Before" is on the left of the screen; a front camera's view is mirrored, so in the canvas it is
        # on the right.
        before_side, after_side = (slice(half + 2, None), slice(0, half - 2)) if state["mirrored"] \
            else (slice(0, half - 2), slice(half + 2, None))
        assert np.array_equal(split[:, before_side], before[:, before_side])
        assert np.array_equal(split[:, after_side], after[:, after_side])
        assert not np.array_equal(before, after)
        assert page.locator("#live-split-line").is_visible()


def test_live_mode_sends_no_image_data_anywhere(server, camera_video, lipsticks):
    requests = []
    with camera_page(camera_video) as page:
        page.on("request", lambda request: requests.append(
            (request.url, request.method, request.post_data_buffer or b"")))
        start_live(page, server, lipsticks[0]["id"])
        pick(page, lipsticks[1]["id"])
        page.locator("#intensity").fill("40")
        page.wait_for_function("window.shoplensLive.state.frames >= 15", timeout=60_000)
        page.click("#live-snapshot")
        page.wait_for_function("document.getElementById('live-save').href.startsWith('blob:')")
        page.click("#live-resume")
        page.wait_for_function("window.shoplensLive.state.frames >= 20", timeout=60_000)
    assert requests, "the page made its usual requests"
    for url, method, body in requests:
        assert url.startswith(server + "/") or url.startswith("blob:") or url.startswith("data:"), url
        assert not any(magic in body for magic in IMAGE_MAGIC), f"image bytes in {method} {url}"
        assert len(body) < 4096, f"{len(body)} bytes sent with {method} {url}"
        assert "/api/v1/tryon" != url.removeprefix(server).split("?")[0] or method == "GET"
    face_mesh = [url for url, _, _ in requests if "/vendor/face_mesh/" in url]
    assert any(url.endswith(".wasm") for url in face_mesh), "Face Mesh came from our server"


def test_camera_refused_falls_back_to_photo(server):
    with camera_page(None, grant_camera=False) as page:
        page.goto(server + "/")
        page.click("#tab-tryon")
        page.click("#mode-live")
        page.wait_for_function("document.body.dataset.tryonMode === 'photo' && "
                               "document.getElementById('tryon-status').textContent.length > 0", timeout=60_000)
        assert "refused" in page.text_content("#tryon-status")
        assert page.locator("#photo-mode").is_visible() and not page.locator("#live-mode").is_visible()


def test_no_webgl2_falls_back_to_photo(server, camera_video):
    with camera_page(camera_video) as page:
        page.add_init_script("""(() => {
          const original = HTMLCanvasElement.prototype.getContext;
          HTMLCanvasElement.prototype.getContext = function (kind, ...rest) {
            return kind === "webgl2" ? null : original.call(this, kind, ...rest);
          };
        })()""")
        page.goto(server + "/")
        page.click("#tab-tryon")
        page.click("#mode-live")
        page.wait_for_function("document.body.dataset.tryonMode === 'photo'", timeout=30_000)
        assert "WebGL2" in page.text_content("#tryon-status")


def _hex_distance(a: str, b: str) -> int:
    return sum(abs(int(a[i:i + 2], 16) - int(b[i:i + 2], 16)) for i in (1, 3, 5))


def post_tryon(server: str, png: bytes, looks: list[dict]) -> bytes:
    """POST /api/v1/tryon over HTTP (multipart): the rendered JPEG."""
    boundary = "shoplens-parity-boundary"
    body = b"".join([
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="still.png"\r\n'
        "Content-Type: image/png\r\n\r\n".encode(), png, b"\r\n",
        f'--{boundary}\r\nContent-Disposition: form-data; name="looks"\r\n\r\n{json.dumps(looks)}\r\n'
        f"--{boundary}--\r\n".encode()])
    request = urllib.request.Request(server + "/api/v1/tryon", data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request) as response:
        assert response.status == 200
        return response.read()


def astronaut_still() -> Image.Image:
    """The still both renderers draw: the fake camera's face, at 720x720."""
    from skimage import data

    from tests.fake_camera import FACE_CROP

    return Image.fromarray(data.astronaut()).crop(FACE_CROP).resize((720, 720), Image.LANCZOS)


def hopper_still() -> Image.Image:
    """A second face and framing for the parity test: Grace Hopper's portrait at 600x720."""
    from tests.conftest import grace_hopper

    return grace_hopper().resize((600, 720), Image.LANCZOS)


@pytest.mark.parametrize("make_still", [astronaut_still, hopper_still], ids=["astronaut", "grace_hopper"])
def test_live_renderer_matches_the_server_renderer(server, lipsticks, landmarker, make_still):
    """The same still through the live renderer (read back from the canvas) and through /api/v1/tryon; and, to
    tell the renderers from the two Face Mesh builds, through the server's renderer on the browser's landmarks."""
    from scipy.ndimage import binary_dilation

    from tests.conftest import encode
    from vision.color import ciede2000, image_to_lab, parse_hex
    from vision.face import Face
    from vision.looks import Finish, Layer, ProductType
    from vision.makeup import render_look
    from vision.masks import FaceGeometry, zone_mask

    still = make_still()
    png = encode(still, "PNG")
    shade = next(item for item in lipsticks if item["finish"] in ("satin", "matte"))
    with camera_page(None, grant_camera=False) as page:
        page.goto(server + "/")
        page.click("#tab-tryon")
        page.wait_for_selector(".swatch")
        pick(page, shade["id"])
        outcome = page.evaluate("(url) => window.shoplensLive.renderStill(url)",
                                "data:image/png;base64," + base64.b64encode(png).decode())
        assert outcome == {"faces": 1, "drawn": ["lipstick"]}
        live = canvas_image(page)
        browser_landmarks = np.asarray(page.evaluate("window.shoplensLive.state.landmarks"), np.float32)
    served = np.asarray(Image.open(io.BytesIO(post_tryon(server, png, [{"product_id": shade["id"],
                                                                         "intensity": 0.8}]))).convert("RGB"))
    original = np.asarray(still)
    assert live.shape == served.shape == original.shape
    face = landmarker.detect(original)[0]
    same_landmarks = render_look(original, [Face(browser_landmarks.reshape(-1, 2), face.box, 1.0)],
                                 [Layer(ProductType.LIPSTICK, parse_hex(shade["shade_hex"]), Finish(shade["finish"]),
                                        0.8)])

    zone = zone_mask(ProductType.LIPSTICK, FaceGeometry(face.landmarks, (0, 0), original.shape[:2], face.eye_distance))
    lips = zone > 0.5
    inside = lips.reshape(-1)
    # Each renderer's lip mask: where its change reaches half the change at the lips' core (the lipstick at half
    # strength or more; JPEG noise is far below that), near the mouth.
    core, near_mouth = (zone > 0.9).reshape(-1), binary_dilation(lips, iterations=12).reshape(-1)
    lab = {name: image_to_lab(pixels).reshape(-1, 3) for name, pixels in
           (("live", live), ("served", served), ("same_landmarks", same_landmarks), ("original", original))}
    coloured = {}
    for name in ("live", "served", "same_landmarks"):
        change = ciede2000(lab[name], lab["original"])
        coloured[name] = (change > 0.5 * np.median(change[core])) & near_mouth

    def compare(name):
        overlap = (coloured["live"] & coloured[name]).sum() / (coloured["live"] | coloured[name]).sum()
        return ciede2000(lab["live"][inside], lab[name][inside]).mean(), overlap

    (served_difference, served_overlap), (renderer_difference, renderer_overlap) = map(compare, ("served",
                                                                                         "same_landmarks"))
    print(f"live vs server: mean CIEDE2000 in the lips {served_difference:.2f}, lip-mask IoU {served_overlap:.3f}; "
          f"on the same landmarks {renderer_difference:.2f}, {renderer_overlap:.3f}")
    # The renderers themselves (measured 0.73 / 0.946 on the astronaut, 0.66 / 0.946 on Grace Hopper).
    assert renderer_difference <= 1.5 and renderer_overlap >= 0.92, (renderer_difference, renderer_overlap)
    # End to end, issue #15's bounds (measured 1.60 / 0.890 and 1.62 / 0.885, each Face Mesh build on its own). The
    # server averages the meshes of two crops (FaceLandmarker views); with one crop the landmark model's jitter
    # took them to 2.38 / 0.833 and 2.00 / 0.823.
    assert served_difference <= 3.0, f"mean CIEDE2000 in the lips {served_difference:.2f}"
    assert served_overlap >= 0.85, f"lip-mask IoU {served_overlap:.3f}"


LOOK_OF_FOUR = {"blush": "#E06070", "eyeshadow": "#6A3E9C", "eyeliner": "#141018", "lipstick": "#B0203A"}


def test_every_layer_and_finish_draws_on_its_own_zone(server, landmarker):
    """Four layers at once, in each finish: each colour pass is written for the layers it draws, so each
    combination must compile and colour its own zone toward its shade, and each finish must show."""
    from scipy.ndimage import binary_dilation

    from tests.conftest import encode
    from vision.looks import Finish, ProductType
    from vision.masks import FaceGeometry, zone_mask

    still = astronaut_still()
    original = np.asarray(still)
    url = "data:image/png;base64," + base64.b64encode(encode(still, "PNG")).decode()
    face = landmarker.detect(original)[0]
    geometry = FaceGeometry(face.landmarks, (0, 0), original.shape[:2], face.eye_distance)
    zones = {kind: zone_mask(ProductType(kind), geometry) > 0.5 for kind in LOOK_OF_FOUR}
    reach = np.any([zone_mask(ProductType(kind), geometry) > 0 for kind in LOOK_OF_FOUR], axis=0)
    far = ~binary_dilation(reach, iterations=40)  # well away from every zone: the frame as it was
    rendered = {}
    with camera_page(None, grant_camera=False) as page:
        page.goto(server + "/")
        page.click("#tab-tryon")
        page.wait_for_selector(".swatch")
        for finish in Finish:
            layers = [{"product_type": kind, "shade_hex": shade, "finish": finish.value, "intensity": 1.0}
                      for kind, shade in LOOK_OF_FOUR.items()]
            page.evaluate("(layers) => document.dispatchEvent(new CustomEvent('shoplens:look', {detail: {layers}}))",
                          layers)
            outcome = page.evaluate("(url) => window.shoplensLive.renderStill(url)", url)
            assert outcome == {"faces": 1, "drawn": ["blush", "eyeshadow", "eyeliner", "lipstick"]}, finish
            rendered[finish] = live = canvas_image(page)
            for kind, shade in LOOK_OF_FOUR.items():
                before, after = shade_distance(original, zones[kind], shade), shade_distance(live, zones[kind], shade)
                assert after < 0.8 * before, f"{finish} {kind}: {before:.1f} -> {after:.1f} from the shade"
            assert np.abs(live[far].astype(int) - original[far].astype(int)).max() <= 2, finish
    lips = zones["lipstick"]
    for finish, other in itertools.combinations(Finish, 2):
        difference = np.abs(rendered[finish][lips].astype(int) - rendered[other][lips].astype(int)).mean()
        assert difference > 0.2, f"{finish} and {other} look the same on the lips"

