"""Hostile and malformed input against the public endpoints: always the right 4xx JSON, never a 500,
and the server answers a normal request right after."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from app import create_app
from app.errors import STATUS
from tests.conftest import astronaut, encode, gradient_image, make_settings, png_with_declared_size, zip_bytes


def animated_gif() -> bytes:
    frames = [gradient_image(64, 64, seed=i) for i in range(3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=50)
    return buffer.getvalue()


PHOTO = encode(gradient_image(120, 90), "JPEG")
SELFIE = encode(astronaut(), "JPEG")
FILES = {
    "zero_byte": b"",
    "truncated_jpeg": encode(gradient_image(300, 300), "JPEG")[:400],
    "truncated_png": encode(gradient_image(300, 300), "PNG")[:300],
    "svg": b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="9" height="9"/></svg>',
    "pdf": b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF",
    "html": b"<!doctype html><script>alert(1)</script>",
    "zip": zip_bytes(),
    "pdf_jpeg_polyglot": b"%PDF-1.4\n" + PHOTO,
    "jpeg_zip_polyglot": PHOTO + zip_bytes(),
    "png_bomb_30000": png_with_declared_size(30000, 30000),
    "one_pixel": encode(Image.new("RGB", (1, 1)), "PNG"),
    "sixteen_bit": encode(Image.fromarray(np.full((64, 64), 40000, np.uint16)), "PNG"),
    "cmyk": encode(Image.new("CMYK", (64, 64), (10, 200, 30, 0)), "JPEG"),
    "palette": encode(gradient_image(64, 64).convert("P"), "PNG"),
    "animated_gif": animated_gif(),
}


def upload(name: str, field: str = "image", **extra):
    return {field: (io.BytesIO(FILES[name] if name in FILES else name), "upload.bin"), **extra}


LOOKS = json.dumps([{"type": "lipstick", "color": "#C41E3A"}])
CASES = [
    # (id, method, url, request kwargs, status, code)
    ("search_empty_body", "post", "/api/v1/search", {}, 400, "missing_image"),
    ("search_json_body", "post", "/api/v1/search", {"json": {"image": "aGVsbG8="}}, 400, "missing_image"),
    ("search_wrong_field", "post", "/api/v1/search", {"data": upload("truncated_jpeg", field="photo")}, 400,
     "missing_image"),
    ("search_zero_byte", "post", "/api/v1/search", {"data": upload("zero_byte")}, 400, "empty_image"),
    ("search_truncated_jpeg", "post", "/api/v1/search", {"data": upload("truncated_jpeg")}, 400, "invalid_image"),
    ("search_truncated_png", "post", "/api/v1/search", {"data": upload("truncated_png")}, 400, "invalid_image"),
    ("search_svg", "post", "/api/v1/search", {"data": upload("svg")}, 415, "unsupported_media_type"),
    ("search_pdf", "post", "/api/v1/search", {"data": upload("pdf")}, 415, "unsupported_media_type"),
    ("search_html", "post", "/api/v1/search", {"data": upload("html")}, 415, "unsupported_media_type"),
    ("search_zip", "post", "/api/v1/search", {"data": upload("zip")}, 415, "unsupported_media_type"),
    ("search_pdf_jpeg_polyglot", "post", "/api/v1/search", {"data": upload("pdf_jpeg_polyglot")}, 415,
     "unsupported_media_type"),
    ("search_jpeg_zip_polyglot", "post", "/api/v1/search", {"data": upload("jpeg_zip_polyglot")}, 200, None),
    ("search_png_bomb", "post", "/api/v1/search", {"data": upload("png_bomb_30000")}, 413, "image_too_large"),
    ("search_one_pixel", "post", "/api/v1/search", {"data": upload("one_pixel")}, 422, "image_too_small"),
    ("search_sixteen_bit", "post", "/api/v1/search", {"data": upload("sixteen_bit")}, 200, None),
    ("search_cmyk", "post", "/api/v1/search", {"data": upload("cmyk")}, 200, None),
    ("search_palette", "post", "/api/v1/search", {"data": upload("palette")}, 200, None),
    ("search_animated_gif", "post", "/api/v1/search", {"data": upload("animated_gif")}, 200, None),
    ("search_k_negative", "get", "/api/v1/search?q=a&k=-1", {}, 400, "invalid_parameter"),
    ("search_k_huge", "get", "/api/v1/search?q=a&k=10000000000000000000000", {}, 400, "invalid_parameter"),
    ("search_k_text", "get", "/api/v1/search?q=a&k=%F0%9F%92%A9", {}, 400, "invalid_parameter"),
    ("search_k_float", "get", "/api/v1/search?q=a&k=2.5", {}, 400, "invalid_parameter"),
    ("search_crop_text", "post", "/api/v1/search", {"data": upload("cmyk", crop="a,b,c,d")}, 400,
     "invalid_parameter"),
    ("search_crop_outside", "post", "/api/v1/search", {"data": upload("cmyk", crop="9999,9999,5,5")}, 400,
     "invalid_parameter"),
    ("search_crop_zero", "post", "/api/v1/search", {"data": upload("cmyk", crop="0,0,0,0")}, 400,
     "invalid_parameter"),
    ("search_bad_price", "get", "/api/v1/search?q=a&min_price=-3", {}, 400, "invalid_parameter"),
    ("search_nan_price", "get", "/api/v1/search?q=a&max_price=nan", {}, 400, "invalid_parameter"),
    ("search_bad_stock", "get", "/api/v1/search?q=a&in_stock=perhaps", {}, 400, "invalid_parameter"),
    ("search_long_category", "get", "/api/v1/search?q=a&category=" + "x" * 300, {}, 400, "invalid_parameter"),
    ("search_nan_weight", "get", "/api/v1/search?q=a&text_weight=nan", {}, 400, "invalid_parameter"),
    ("search_blank_query", "get", "/api/v1/search?q=%20%20%20", {}, 400, "missing_query"),
    ("search_long_query", "get", "/api/v1/search?q=" + "ü" * 600, {}, 400, "invalid_parameter"),
    ("search_unicode_query", "get", "/api/v1/search?q=%E7%BA%A2%E8%89%B2%E8%BF%9E%E8%A1%A3%E8%A3%99%20%F0%9F%91%97", {},
     200, None),
    ("search_nul_query", "get", "/api/v1/search?q=a%00b", {}, 200, None),
    ("search_too_many_parts", "post", "/api/v1/search",
     {"data": {**upload("cmyk"), **{f"f{i}": "x" for i in range(80)}}}, 413, "payload_too_large"),
    ("tryon_missing_looks", "post", "/api/v1/tryon", {"data": upload(SELFIE)}, 400, "invalid_parameter"),
    ("tryon_missing_image", "post", "/api/v1/tryon", {"data": {"looks": LOOKS}}, 400, "missing_image"),
    ("tryon_zero_byte", "post", "/api/v1/tryon", {"data": upload("zero_byte", looks=LOOKS)}, 400, "empty_image"),
    ("tryon_svg", "post", "/api/v1/tryon", {"data": upload("svg", looks=LOOKS)}, 415, "unsupported_media_type"),
    ("tryon_bomb", "post", "/api/v1/tryon", {"data": upload("png_bomb_30000", looks=LOOKS)}, 413, "image_too_large"),
    ("tryon_invalid_json", "post", "/api/v1/tryon", {"data": upload(SELFIE, looks="[{'type': lipstick}")}, 400,
     "invalid_parameter"),
    ("tryon_looks_object", "post", "/api/v1/tryon", {"data": upload(SELFIE, looks='{"type": "lipstick"}')}, 400,
     "invalid_parameter"),
    ("tryon_unknown_product", "post", "/api/v1/tryon",
     {"data": upload(SELFIE, looks=json.dumps([{"product_id": "../../etc/passwd"}]))}, 404, "unknown_product"),
    ("tryon_not_makeup", "post", "/api/v1/tryon",
     {"data": upload(SELFIE, looks=json.dumps([{"type": "lipstick", "color": "#GGGGGG"}]))}, 400,
     "invalid_parameter"),
    ("tryon_too_many_looks", "post", "/api/v1/tryon",
     {"data": upload(SELFIE, looks=json.dumps([{"type": "blush", "color": "#FF0000"}] * 50))}, 400,
     "invalid_parameter"),
    ("tryon_deep_json", "post", "/api/v1/tryon", {"data": upload(SELFIE, looks="[" * 100_000)}, 400,
     "invalid_parameter"),
    ("tryon_no_face", "post", "/api/v1/tryon", {"data": upload("cmyk", looks=LOOKS)}, 422, "no_face"),
    ("tryon_sixteen_bit_no_face", "post", "/api/v1/tryon", {"data": upload("sixteen_bit", looks=LOOKS)}, 422,
     "no_face"),
    ("analyze_empty", "post", "/api/v1/face/analyze", {}, 400, "missing_image"),
    ("analyze_zero_byte", "post", "/api/v1/face/analyze", {"data": upload("zero_byte")}, 400, "empty_image"),
    ("analyze_html", "post", "/api/v1/face/analyze", {"data": upload("html")}, 415, "unsupported_media_type"),
    ("analyze_bomb", "post", "/api/v1/face/analyze", {"data": upload("png_bomb_30000")}, 413, "image_too_large"),
    ("analyze_truncated", "post", "/api/v1/face/analyze", {"data": upload("truncated_png")}, 400, "invalid_image"),
    ("analyze_animated_gif_no_face", "post", "/api/v1/face/analyze", {"data": upload("animated_gif")}, 422,
     "no_face"),
    ("analyze_one_pixel", "post", "/api/v1/face/analyze", {"data": upload("one_pixel")}, 422, "image_too_small"),
    ("admin_no_token", "post", "/api/v1/admin/reload", {}, 401, "unauthorized"),
    ("admin_wrong_token", "post", "/api/v1/admin/reload", {"headers": {"Authorization": "Bearer guess"}}, 401,
     "unauthorized"),
    ("admin_token_prefix", "post", "/api/v1/admin/reload", {"headers": {"Authorization": "Bearer s3cret"}}, 401,
     "unauthorized"),
    ("admin_token_in_query", "post", "/api/v1/admin/reload?token=s3cret-token", {}, 401, "unauthorized"),
    ("admin_basic_scheme", "post", "/api/v1/admin/reload", {"headers": {"Authorization": "Basic czNjcmV0"}}, 401,
     "unauthorized"),
    ("admin_unicode_token", "post", "/api/v1/admin/reload", {"headers": {"Authorization": "Bearer ✓✓✓"}}, 401,
     "unauthorized"),
    ("admin_get", "get", "/api/v1/admin/reload", {"headers": {"Authorization": "Bearer s3cret-token"}}, 405,
     "method_not_allowed"),
    ("image_path_traversal", "get", "/catalog/images/..%2F..%2Fetc%2Fpasswd", {}, 404, "unknown_product"),
    ("product_traversal", "get", "/api/v1/products/../../etc/passwd", {}, 404, None),
    ("link_file_scheme", "post", "/api/v1/search", {"data": {"image_url": "file:///etc/passwd"}}, 400,
     "image_url_refused"),
    ("link_loopback", "post", "/api/v1/search", {"data": {"image_url": "http://127.0.0.1:9/x.jpg"}}, 400,
     "image_url_refused"),
    ("link_loopback_as_hex", "post", "/api/v1/search", {"data": {"image_url": "http://0x7f000001/x.jpg"}}, 400,
     "image_url_refused"),
    ("link_ipv6_loopback", "post", "/api/v1/search", {"data": {"image_url": "http://[::1]/x.jpg"}}, 400,
     "image_url_refused"),
    ("link_cloud_metadata", "post", "/api/v1/search?image_url=http://169.254.169.254/latest/meta-data/", {}, 400,
     "image_url_refused"),
    ("link_javascript", "post", "/api/v1/search", {"data": {"image_url": "javascript:alert(1)"}}, 400,
     "invalid_parameter"),
    ("link_huge", "post", "/api/v1/search", {"data": {"image_url": "http://a.example/" + "x" * 5000}}, 400,
     "invalid_parameter"),
    ("recommend_no_body", "post", "/api/v1/recommend", {}, 400, "invalid_parameter"),
    ("recommend_form_body", "post", "/api/v1/recommend", {"data": {"positive": "lip-mauve"}}, 400,
     "invalid_parameter"),
    ("recommend_not_json", "post", "/api/v1/recommend", {"data": "{positive: [", "content_type": "application/json"},
     400, "invalid_parameter"),
    ("recommend_empty_session", "post", "/api/v1/recommend", {"json": {"positive": []}}, 400, "invalid_parameter"),
    ("recommend_huge_id_list", "post", "/api/v1/recommend", {"json": {"positive": [f"p{i}" for i in range(100_000)]}},
     400, "invalid_parameter"),
    ("recommend_duplicate_ids", "post", "/api/v1/recommend", {"json": {"positive": ["lip-mauve", "lip-mauve"]}}, 400,
     "invalid_parameter"),
    ("recommend_nan_weight", "post", "/api/v1/recommend",
     {"data": '{"positive": {"lip-mauve": NaN}}', "content_type": "application/json"}, 400, "invalid_parameter"),
    ("recommend_infinite_weight", "post", "/api/v1/recommend",
     {"data": '{"positive": {"lip-mauve": Infinity}}', "content_type": "application/json"}, 400, "invalid_parameter"),
    ("recommend_negative_weight", "post", "/api/v1/recommend", {"json": {"positive": {"lip-mauve": -1}}}, 400,
     "invalid_parameter"),
    ("recommend_string_weight", "post", "/api/v1/recommend", {"json": {"positive": {"lip-mauve": "lots"}}}, 400,
     "invalid_parameter"),
    ("recommend_nested_ids", "post", "/api/v1/recommend", {"json": {"positive": [["lip-mauve"]]}}, 400,
     "invalid_parameter"),
    ("recommend_both_ways", "post", "/api/v1/recommend",
     {"json": {"positive": ["lip-mauve"], "negative": ["lip-mauve"]}}, 400, "invalid_parameter"),
    ("recommend_unknown_id", "post", "/api/v1/recommend", {"json": {"positive": ["../../etc/passwd"]}}, 404,
     "unknown_product"),
    ("recommend_huge_id", "post", "/api/v1/recommend", {"json": {"positive": ["x" * 100_000]}}, 400,
     "invalid_parameter"),
    ("recommend_deep_json", "post", "/api/v1/recommend",
     {"data": '{"positive": ' + "[" * 100_000, "content_type": "application/json"}, 400, "invalid_parameter"),
    ("rollback_deep_json", "post", "/api/v1/admin/rollback", {"data": "[" * 100_000, "content_type":
     "application/json", "headers": {"Authorization": "Bearer s3cret-token"}}, 400, "invalid_parameter"),
]
# Shop the look decodes the photo its own way (reduced, with boxes mapped back): the same photos again.
CASES += [(f"look_{name}", "post", "/api/v1/search?detect=true", {"data": upload(name)}, status, code)
          for name, status, code in [("zero_byte", 400, "empty_image"), ("truncated_jpeg", 400, "invalid_image"),
                                     ("svg", 415, "unsupported_media_type"), ("png_bomb_30000", 413, "image_too_large"),
                                     ("one_pixel", 422, "image_too_small"), ("jpeg_zip_polyglot", 200, None),
                                     ("sixteen_bit", 200, None), ("cmyk", 200, None), ("palette", 200, None),
                                     ("animated_gif", 200, None)]]


@pytest.fixture(scope="module")
def client(makeup_index):
    return create_app(make_settings(makeup_index, max_upload_bytes=2_000_000), background_load=False).test_client()


def test_there_are_at_least_forty_cases():
    assert len(CASES) >= 40


@pytest.mark.parametrize("name, method, url, kwargs, status, code", CASES, ids=[case[0] for case in CASES])
def test_hostile_input(client, name, method, url, kwargs, status, code):
    response = getattr(client, method)(url, **kwargs)
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    if status >= 400:
        body = response.get_json()
        assert body is not None and set(body) == {"error"}, response.get_data(as_text=True)[:300]
        assert body["error"]["message"] and STATUS[body["error"]["code"]] == status
        if code:
            assert body["error"]["code"] == code
    assert client.get("/api/v1/search?q=lipstick&k=2").status_code == 200


def test_huge_multipart_is_413(client):
    boundary, body = encode_multipart({"image": FileStorage(io.BytesIO(b"\xff\xd8" + b"\x00" * 3_000_000), "huge.jpg")})
    response = client.post("/api/v1/search", data=body, content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 413 and response.get_json()["error"]["code"] == "payload_too_large"
    assert client.get("/api/v1/search?q=lipstick&k=2").status_code == 200


def test_admin_disabled_without_a_configured_token(makeup_index):
    app = create_app(make_settings(makeup_index, admin_token=""), background_load=False)
    response = app.test_client().post("/api/v1/admin/reload", headers={"Authorization": "Bearer "})
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "admin_disabled"
