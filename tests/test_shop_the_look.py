"""Shop the look (``POST /api/v1/search?detect=true``): proposals, the item choice, the API and its quality."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from app import create_app
from tests.busy_scenes import product_shot, scene, scored_scene
from tests.conftest import encode, grace_hopper, make_settings
from tests.histogram_model import HistogramModel, write_histogram_index
from tests.test_api import assert_error, upload
from vision.face import Box, FaceLandmarker
from vision.images import load_image, upright_size
from vision.item_finder import FACE_GROW, ItemSettings, candidate_boxes, pick_items, without_faces
from vision.item_proposals import box_iou, non_max_suppression, propose_regions, straddling_scores

SHOTS = 40


def jpeg(image: Image.Image, **save_args) -> bytes:
    return encode(image, "JPEG", quality=90, **save_args)


def items_of(response) -> list[dict]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["items"]


# --- proposals and the choice of items


def test_proposals_outline_the_pasted_products():
    found = total = 0
    for seed in range(12):
        shot = scene(seed, SHOTS)
        boxes = np.array([[p.box.x, p.box.y, p.box.width, p.box.height] for p in propose_regions(shot.image, 7)])
        for pasted in shot.items:
            total += 1
            found += bool(len(boxes)) and box_iou(np.array(pasted.box, float), boxes).max() >= 0.5
    assert found / total >= 0.9


def test_straddling_prefers_a_box_around_a_whole_segment():
    labels = np.zeros((40, 40), np.int32)
    labels[10:30, 10:30] = 1
    whole, cut = straddling_scores(labels, np.array([[10, 10, 20, 20], [0, 0, 20, 20]]))
    assert whole == pytest.approx(1.0) and cut < 0.5


def test_non_max_suppression_keeps_the_best_of_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [50, 50, 10, 10]])
    assert non_max_suppression(boxes, np.array([0.5, 0.9, 0.1]), 0.5, 5) == [1, 2]
    assert non_max_suppression(boxes, np.array([0.5, 0.9, 0.1]), 0.5, 1) == [1]


def test_pick_items_needs_a_gain_merges_overlaps_and_caps():
    boxes = [Box(0, 0, 10, 10), Box(1, 0, 10, 10), Box(40, 40, 10, 10), Box(80, 80, 10, 10), Box(120, 0, 9, 9)]
    gains = [0.2, 0.3, -0.1, 0.05, 0.01]
    assert pick_items(boxes, gains, ItemSettings()) == [1, 3, 4]
    assert pick_items(boxes, gains, ItemSettings(max_items=2)) == [1, 3]
    assert pick_items(boxes, gains, ItemSettings(min_gain=0.1)) == [1]


def test_a_box_that_is_mostly_a_face_is_dropped_but_a_person_is_not():
    face = Box(100, 100, 50, 50)
    head, person, elsewhere = Box(90, 80, 75, 90), Box(50, 60, 160, 400), Box(300, 300, 60, 60)
    assert without_faces([head, person, elsewhere], [face], ItemSettings()) == [1, 2]
    assert without_faces([head, person, elsewhere], [], ItemSettings()) == [0, 1, 2]


def test_upright_size_maps_a_reduced_rotated_decode_back():
    big = Image.new("RGB", (5000, 3000), (120, 30, 40))
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned a quarter
    data = jpeg(big, exif=exif)
    reduced = load_image(data, max_side=1024)
    assert reduced.width < reduced.height and reduced.width < 3000  # upright, and decoded reduced
    assert upright_size(data, reduced) == (3000, 5000) == load_image(data).size


# --- the method, on a model whose embedding means something for these scenes


@pytest.fixture(scope="module")
def histogram_app(tmp_path_factory):
    root = write_histogram_index(tmp_path_factory.mktemp("look-index"), [product_shot(i) for i in range(SHOTS)])
    return create_app(make_settings(root), background_load=False, model=HistogramModel())


def test_busy_scenes_items_are_found_with_few_false_ones(histogram_app):
    client = histogram_app.test_client()
    found = pasted = false = 0
    scenes = [scene(100 + seed, SHOTS) for seed in range(12)]
    for shot in scenes:
        items = items_of(client.post("/api/v1/search?k=5&detect=true", data=upload(jpeg(shot.image))))
        hits, wrong = scored_scene(shot, [(item["box"], [int(hit["id"][1:]) for hit in item["results"]])
                                          for item in items])
        found, pasted, false = found + hits, pasted + len(shot.items), false + wrong
    assert found / pasted >= 0.8 and false / len(scenes) <= 1.0


def test_boxes_are_in_the_uploaded_photos_pixels(histogram_app):
    """The same scene sent 3x larger as a JPEG (decoded reduced) answers with boxes 3x larger."""
    client = histogram_app.test_client()
    shot = scene(7, SHOTS)
    small = items_of(client.post("/api/v1/search?detect=true", data=upload(jpeg(shot.image))))
    large_image = shot.image.resize((shot.image.width * 3, shot.image.height * 3), Image.BICUBIC)
    large = items_of(client.post("/api/v1/search?detect=true", data=upload(jpeg(large_image))))
    assert small and large
    for item in large:
        assert 0 <= item["box"][0] and item["box"][0] + item["box"][2] <= large_image.width
        assert 0 <= item["box"][1] and item["box"][1] + item["box"][3] <= large_image.height
    large_boxes = np.array([item["box"] for item in large], float)
    for item in small:  # JPEG's reduced decode may add or lose a marginal item, never move one
        assert box_iou(np.array(item["box"], float) * 3, large_boxes).max() >= 0.8


def test_a_crop_is_searched_for_items_in_photo_coordinates(histogram_app):
    client = histogram_app.test_client()
    shot = scene(3, SHOTS)
    x, y, w, h = shot.items[0].box
    crop = f"{max(0, x - 40)},{max(0, y - 40)},{w + 80},{h + 80}"
    items = items_of(client.post(f"/api/v1/search?detect=true&crop={crop}", data=upload(jpeg(shot.image))))
    left, top = max(0, x - 40), max(0, y - 40)
    assert items and all(item["box"][0] >= left and item["box"][1] >= top for item in items)


# --- the API, on the tiny CLIP model (random weights: every candidate counts as an item here)


@pytest.fixture(scope="module")
def look_client(shop_index):
    app = create_app(make_settings(shop_index, item_min_gain=-2.0, max_items=4), background_load=False)
    return app.test_client()


def test_items_carry_boxes_scores_and_k_filtered_results(look_client):
    photo = scene(11, SHOTS).image
    response = look_client.post("/api/v1/search?k=3&detect=true&category=bags", data=upload(jpeg(photo)))
    body = response.get_json()
    items = items_of(response)
    assert 1 <= len(items) <= 4 and len(body["results"]) == 3
    for item in items:
        x, y, w, h = item["box"]
        assert 0 <= x and 0 <= y and w > 0 and h > 0 and x + w <= photo.width and y + h <= photo.height
        assert isinstance(item["score"], float) and len(item["results"]) == 3
        assert all(hit["category"] == "bags" for hit in item["results"])
    assert [item["score"] for item in items] == sorted((item["score"] for item in items), reverse=True)


def test_no_item_is_a_face(look_client):
    portrait = grace_hopper()
    faces = FaceLandmarker().face_boxes(portrait, small_faces=False)
    settings = ItemSettings()
    candidates = candidate_boxes(portrait, settings)
    assert len(without_faces(candidates, faces, settings)) < len(candidates)  # a face was among the candidates
    items = items_of(look_client.post("/api/v1/search?detect=true", data=upload(jpeg(portrait))))
    assert items
    boxes = [Box(*item["box"]) for item in items]
    assert without_faces(boxes, faces, ItemSettings(face_share=settings.face_share - 0.02)) == list(range(len(boxes)))
    assert FACE_GROW > 1


def test_detect_is_off_by_default_and_mixes_text(look_client):
    photo = jpeg(scene(12, SHOTS).image)
    assert "items" not in look_client.post("/api/v1/search", data=upload(photo)).get_json()
    assert "items" not in look_client.post("/api/v1/search?detect=no", data=upload(photo)).get_json()
    assert items_of(look_client.post("/api/v1/search", data=upload(photo, detect="true", q="green bag")))


@pytest.mark.parametrize("query, body, status, code", [
    ("?detect=maybe", None, 400, "invalid_parameter"),
    ("?detect=true", b"", 400, "empty_image"),
    ("?detect=true", b"not an image at all", 415, "unsupported_media_type"),
    ("?detect=true&crop=5000,5000,10,10", None, 400, "invalid_parameter"),
])
def test_detect_refuses_bad_input_like_a_photo_search(look_client, query, body, status, code):
    photo = jpeg(scene(13, SHOTS).image) if body is None else body
    assert_error(look_client.post(f"/api/v1/search{query}", data=upload(photo)), status, code)


def test_the_whole_photo_and_the_crops_share_forward_passes(look_client):
    response = look_client.get("/metrics")
    before = _batch_count(response.get_data(as_text=True))
    items_of(look_client.post("/api/v1/search?detect=true", data=upload(jpeg(scene(14, SHOTS).image))))
    after = _batch_count(look_client.get("/metrics").get_data(as_text=True))
    assert after - before <= 2  # 1 + 7 images in one or two batches, not eight


def _batch_count(metrics: str) -> float:
    count = 'shoplens_model_batch_size_count{tower="image"'
    line = next(line for line in metrics.splitlines() if line.startswith(count))
    return float(line.split()[-1])


def test_openapi_documents_detect_and_items(look_client):
    spec = look_client.get("/api/v1/openapi.json").get_json()
    parameters = {p["name"] for p in spec["paths"]["/api/v1/search"]["post"].get("parameters", [])}
    assert "detect" in parameters
    assert any("items" in (schema.get("properties") or {}) and "box" not in (schema.get("properties") or {})
               for name, schema in spec["components"]["schemas"].items() if name.startswith("SearchResults"))
    assert any(set(schema.get("properties") or {}) >= {"box", "score", "results"}
               for schema in spec["components"]["schemas"].values())
