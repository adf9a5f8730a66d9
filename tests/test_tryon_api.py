"""The try-on endpoints: JPEG out at the upload's size, catalog products or explicit colours, errors."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from tests.conftest import astronaut, encode, gradient_image, group_photo


@pytest.fixture()
def client(makeup_app):
    return makeup_app.test_client()


def tryon(client, image_bytes: bytes, looks, **fields):
    data = {"image": (io.BytesIO(image_bytes), "selfie.jpg"),
            "looks": looks if isinstance(looks, str) else json.dumps(looks), **fields}
    return client.post("/api/v1/tryon", data=data)


ASTRONAUT_JPEG = encode(astronaut(), "JPEG", quality=95)


def test_tryon_with_a_catalog_product(client):
    response = tryon(client, ASTRONAUT_JPEG, [{"product_id": "lip-classic-red"}])
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    assert "no-store" in response.headers["Cache-Control"]
    out = Image.open(io.BytesIO(response.data))
    assert out.size == (512, 512)
    before = np.asarray(Image.open(io.BytesIO(ASTRONAUT_JPEG)), np.int16)
    assert np.abs(np.asarray(out, np.int16) - before).max() > 40  # the lips changed visibly


def test_tryon_with_explicit_colours_and_intensity(client):
    looks = [{"type": "lipstick", "color": "#9B1B30", "finish": "matte", "intensity": 0.8},
             {"type": "blush", "color": "#F1A7B5"}, {"type": "eyeliner", "color": "#111111", "intensity": 1}]
    assert tryon(client, ASTRONAUT_JPEG, looks).status_code == 200


def test_output_has_the_size_of_the_upright_upload(client):
    upright = astronaut().resize((400, 300))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated; viewers turn it 90 degrees
    stored = encode(upright.rotate(90, expand=True), "JPEG", quality=95, exif=exif.tobytes())
    response = tryon(client, stored, [{"type": "lipstick", "color": "#C41E3A"}])
    assert response.status_code == 200
    assert Image.open(io.BytesIO(response.data)).size == (400, 300)


def test_every_face_or_only_the_largest(client):
    photo = encode(group_photo(), "JPEG", quality=92)
    assert tryon(client, photo, [{"type": "lipstick", "color": "#C41E3A"}]).headers["X-Faces"] == "3"
    largest = tryon(client, photo, [{"type": "lipstick", "color": "#C41E3A"}], faces="largest")
    assert largest.headers["X-Faces"] == "1"


def test_face_boxes_header_frames_each_face_largest_first(client):
    canvas = group_photo()
    every = tryon(client, encode(canvas, "JPEG", quality=92), [{"type": "lipstick", "color": "#C41E3A"}])
    boxes = [tuple(map(int, box.split(","))) for box in every.headers["X-Face-Boxes"].split(";")]
    assert len(boxes) == 3
    assert [w * h for _, _, w, h in boxes] == sorted((w * h for _, _, w, h in boxes), reverse=True)
    portraits = [(50, 100, 300), (600, 300, 300), (1200, 500, 200)]  # where group_photo pasted them
    holding = [[left <= x + w / 2 <= left + side and top <= y + h / 2 <= top + side for left, top, side in portraits]
               for x, y, w, h in boxes]
    assert sorted(row.index(True) for row in holding) == [0, 1, 2]  # one box in each portrait


@pytest.mark.parametrize("looks, status, code", [
    ([{"product_id": "nope"}], 404, "unknown_product"),
    ([{"product_id": "found-ebony", "intensity": 2}], 400, "invalid_parameter"),
    ("not json", 400, "invalid_parameter"),
    ("{\"type\": \"lipstick\"}", 400, "invalid_parameter"),
    ("[]", 400, "invalid_parameter"),
    ("", 400, "invalid_parameter"),
    ([{"type": "hat", "color": "#FFFFFF"}], 400, "invalid_parameter"),
    ([{"type": "lipstick", "color": "red"}], 400, "invalid_parameter"),
    ([{"type": "lipstick", "color": "#FF0000", "finish": "velvet"}], 400, "invalid_parameter"),
    ([{"type": "lipstick", "color": "#FF0000", "intensity": "full"}], 400, "invalid_parameter"),
    ([{"type": "lipstick", "color": "#FF0000"}] * 9, 400, "invalid_parameter"),
    (["lipstick"], 400, "invalid_parameter"),
    ("[" * 5000 + "]" * 5000, 400, "invalid_parameter"),
])
def test_bad_looks(client, looks, status, code):
    response = tryon(client, ASTRONAUT_JPEG, looks)
    assert response.status_code == status and response.get_json()["error"]["code"] == code


def test_no_face_is_422(client):
    response = tryon(client, encode(gradient_image(300, 200), "JPEG"), [{"type": "lipstick", "color": "#C41E3A"}])
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "no_face"


def test_missing_image_and_bad_faces_parameter(client):
    response = client.post("/api/v1/tryon", data={"looks": json.dumps([{"type": "blush", "color": "#F1A7B5"}])})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "missing_image"
    bad = tryon(client, ASTRONAUT_JPEG, [{"type": "blush", "color": "#F1A7B5"}], faces="some")
    assert bad.status_code == 400


def test_landmarks_for_live_rendering(client):
    response = client.post("/api/v1/face/landmarks", data={"image": (io.BytesIO(ASTRONAUT_JPEG), "a.jpg")})
    assert response.status_code == 200 and "no-store" in response.headers["Cache-Control"]
    body = response.get_json()
    assert body["width"] == 512 and len(body["faces"]) == 1
    face = body["faces"][0]
    assert len(face["box"]) == 4
    assert {"lips_outer", "mouth_opening", "left_eye", "right_eye", "left_brow", "face_oval"} <= set(face["regions"])
    x, y = np.mean(face["regions"]["lips_outer"], axis=0)
    assert 200 < x < 250 and 130 < y < 165


def test_landmarks_without_a_face(client):
    response = client.post("/api/v1/face/landmarks",
                           data={"image": (io.BytesIO(encode(gradient_image(), "PNG")), "a.png")})
    assert response.status_code == 422


def test_makeup_products_are_grouped_by_type(client):
    groups = client.get("/api/v1/tryon/products").get_json()["groups"]
    assert {"lipstick", "eyeshadow", "blush", "foundation", "eyeliner", "lip_liner", "concealer", "brow"} <= set(groups)
    assert all(p["shade_hex"] and p["product_type"] == kind for kind, items in groups.items() for p in items)


def test_the_same_request_gives_the_same_bytes(client):
    looks = [{"type": "lipstick", "color": "#C41E3A", "finish": "shimmer"}, {"type": "blush", "color": "#F1A7B5"}]
    first, second = tryon(client, ASTRONAUT_JPEG, looks), tryon(client, ASTRONAUT_JPEG, looks)
    assert first.status_code == 200 and first.data == second.data


@pytest.mark.parametrize("fmt, filename", [("HEIF", "IMG_0001.HEIC"), ("AVIF", "photo.avif")])
@pytest.mark.parametrize("path, fields", [
    ("/api/v1/search", {}),
    ("/api/v1/tryon", {"looks": json.dumps([{"type": "lipstick", "color": "#C41E3A"}])}),
    ("/api/v1/face/landmarks", {}),
    ("/api/v1/face/analyze", {}),
    ("/api/v1/shades/match", {}),
])
def test_phone_photos_on_every_image_endpoint(client, fmt, filename, path, fields):
    """An iPhone HEIC or an AVIF photo, stored turned on its side with an EXIF orientation, as phones do."""
    from tests.test_images import phone_photo

    exif = Image.Exif()
    exif[0x0112] = 6
    stored = phone_photo(astronaut().resize((400, 300)).rotate(90, expand=True), fmt, exif=exif.tobytes())
    response = client.post(path, data={"image": (io.BytesIO(stored), filename), **fields})
    assert response.status_code == 200, response.get_json()
    if path == "/api/v1/tryon":
        assert Image.open(io.BytesIO(response.data)).size == (400, 300)
    if path == "/api/v1/face/landmarks":
        assert (response.get_json()["width"], response.get_json()["height"]) == (400, 300)
        assert len(response.get_json()["faces"]) == 1
