"""Shade intelligence: colour maths against published data, lip colour recovery, skin tone behaviour."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.conftest import astronaut, encode, gradient_image, grace_hopper
from vision.color import ciede2000, lab_to_rgb, parse_hex, rgb_to_lab, to_hex
from vision.looks import Layer
from vision.makeup import render_look
from vision.shades import (MONK_SCALE, ShadeCandidate, ita_category, ita_degrees, lip_color, monk_step,
                           rank_shades, skin_tone, undertone)

# Sharma, Wu & Dalal (2005), "The CIEDE2000 color-difference formula: implementation notes,
# supplementary test data, and mathematical observations", Table 1: L1 a1 b1 L2 a2 b2 dE00.
SHARMA_PAIRS = [
    (50.0000, 2.6772, -79.7751, 50.0000, 0.0000, -82.7485, 2.0425),
    (50.0000, 3.1571, -77.2803, 50.0000, 0.0000, -82.7485, 2.8615),
    (50.0000, 2.8361, -74.0200, 50.0000, 0.0000, -82.7485, 3.4412),
    (50.0000, -1.3802, -84.2814, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, -1.1848, -84.8006, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, -0.9009, -85.5211, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, 0.0000, 0.0000, 50.0000, -1.0000, 2.0000, 2.3669),
    (50.0000, -1.0000, 2.0000, 50.0000, 0.0000, 0.0000, 2.3669),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0009, 7.1792),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0010, 7.1792),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0011, 7.2195),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0012, 7.2195),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0009, -2.4900, 4.8045),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0010, -2.4900, 4.8045),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0011, -2.4900, 4.7461),
    (50.0000, 2.5000, 0.0000, 50.0000, 0.0000, -2.5000, 4.3065),
    (50.0000, 2.5000, 0.0000, 73.0000, 25.0000, -18.0000, 27.1492),
    (50.0000, 2.5000, 0.0000, 61.0000, -5.0000, 29.0000, 22.8977),
    (50.0000, 2.5000, 0.0000, 56.0000, -27.0000, -3.0000, 31.9030),
    (50.0000, 2.5000, 0.0000, 58.0000, 24.0000, 15.0000, 19.4535),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.1736, 0.5854, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.2972, 0.0000, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 1.8634, 0.5757, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.2592, 0.3350, 1.0000),
    (60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644),
    (63.0109, -31.0961, -5.8663, 62.8187, -29.7946, -4.0864, 1.2630),
    (61.2901, 3.7196, -5.3901, 61.4292, 2.2480, -4.9620, 1.8731),
    (35.0831, -44.1164, 3.7933, 35.0232, -40.0716, 1.5901, 1.8645),
    (22.7233, 20.0904, -46.6940, 23.0331, 14.9730, -42.5619, 2.0373),
    (36.4612, 47.8580, 18.3852, 36.2715, 50.5065, 21.2231, 1.4146),
    (90.8027, -2.0831, 1.4410, 91.1528, -1.6435, 0.0447, 1.4441),
    (90.9257, -0.5406, -0.9208, 88.6381, -0.8985, -0.7239, 1.5381),
    (6.7747, -0.2908, -2.4247, 5.8714, -0.0985, -2.2286, 0.6377),
    (2.0776, 0.0795, -1.1350, 0.9033, -0.0636, -0.5514, 0.9082),
]


def test_ciede2000_matches_the_published_pairs():
    data = np.array(SHARMA_PAIRS)
    ours = ciede2000(data[:, 0:3], data[:, 3:6])
    np.testing.assert_allclose(ours, data[:, 6], atol=1e-4)
    np.testing.assert_allclose(ciede2000(data[:, 3:6], data[:, 0:3]), data[:, 6], atol=1e-4)  # symmetric


@pytest.mark.parametrize("rgb, lab", [((255, 0, 0), (53.2408, 80.0925, 67.2032)),
                                      ((255, 255, 255), (100.0, 0.0, 0.0)),
                                      ((0, 0, 255), (32.2970, 79.1875, -107.8602)),
                                      ((128, 128, 128), (53.5850, 0.0, 0.0))])
def test_srgb_to_cielab_reference_values(rgb, lab):
    np.testing.assert_allclose(rgb_to_lab(rgb), lab, atol=0.02)


def test_lab_round_trip_and_hex():
    for value in ("#9B1B30", "#F3DCCB", "#000000", "#FFFFFF", "#26305A"):
        assert to_hex(lab_to_rgb(rgb_to_lab(parse_hex(value)))) == value


def gamut_shades(count: int = 30) -> list[str]:
    """Shades spread over hue at three lightness levels, kept inside sRGB."""
    shades = []
    for lightness in (32, 48, 64):
        for hue in range(0, 360, 360 // (count // 3)):
            angle = np.radians(hue + lightness)
            shades.append(to_hex(lab_to_rgb([lightness, 45 * np.cos(angle), 45 * np.sin(angle)])))
    return shades


@pytest.fixture(scope="module", params=["astronaut", "grace_hopper"])
def face_photo(request, landmarker):
    image = {"astronaut": astronaut, "grace_hopper": grace_hopper}[request.param]()
    return np.asarray(image), landmarker.detect(image)[0]


def test_lip_colour_is_recovered_from_known_recolourings(face_photo):
    pixels, face = face_photo
    shades = gamut_shades()
    truth = np.stack([rgb_to_lab(parse_hex(shade)) for shade in shades])
    errors, firsts = [], 0
    for index, shade in enumerate(shades):
        made_up = render_look(pixels, [face], [Layer.of("lipstick", shade, "matte", 1.0)])
        distances = ciede2000(lip_color(made_up, face)[None, :], truth)
        errors.append(distances[index])
        firsts += int(np.argmin(distances) == index)
    assert np.mean(np.array(errors) <= 5.0) >= 0.9, np.round(errors, 1)
    assert firsts / len(shades) >= 0.8


def test_white_balance_reduces_the_effect_of_colour_casts(face_photo):
    pixels, face = face_photo
    for cast in ((1.15, 1.0, 0.80), (0.85, 1.0, 1.20)):  # warm (tungsten-like), cool (shade-like)
        tinted = np.clip(pixels * np.array(cast), 0, 255).astype(np.uint8)
        shift = {}
        for correct in (False, True):
            before = np.array(skin_tone(pixels, face, white_balance=correct).lab)
            after = np.array(skin_tone(tinted, face, white_balance=correct).lab)
            shift[correct] = float(ciede2000(before, after))
        assert shift[True] < shift[False], (cast, shift)


def test_ita_falls_monotonically_over_a_light_to_dark_series(landmarker):
    image = grace_hopper()
    pixels = np.asarray(image)
    face = landmarker.detect(image)[0]
    itas = []
    for shade in MONK_SCALE:  # foundation from the lightest Monk step to the darkest
        made_up = render_look(pixels, [face], [Layer.of("foundation", shade, "matte", 1.0)])
        itas.append(skin_tone(made_up, face, white_balance=False).ita)
    assert all(a > b for a, b in zip(itas, itas[1:])), np.round(itas, 1)


def test_skin_tone_fields(face_photo):
    pixels, face = face_photo
    tone = skin_tone(pixels, face)
    assert 1 <= tone.monk <= 10 and tone.undertone in ("warm", "neutral", "cool")
    assert tone.ita_category == ita_category(tone.ita) and 0 < tone.confidence <= 1
    assert tone.hex.startswith("#") and len(tone.hex) == 7


def test_small_face_gives_low_confidence_not_a_crash(landmarker):
    small = astronaut().resize((128, 128), Image.Resampling.LANCZOS)
    face = landmarker.detect(small)[0]
    big_face = landmarker.detect(astronaut())[0]
    assert skin_tone(np.asarray(small), face).confidence < 0.3
    assert skin_tone(np.asarray(astronaut()), big_face).confidence > skin_tone(np.asarray(small), face).confidence


@pytest.mark.parametrize("lab, expected", [((80, 5, 10), "very_light"),      # ITA 71.6
                                           ((65, 10, 20), "intermediate"),   # 36.9
                                           ((60, 10, 20), "tan"),            # 26.6
                                           ((45, 15, 25), "brown"),          # -11.3
                                           ((15, 8, 10), "dark")])           # -74.1
def test_ita_categories(lab, expected):
    assert ita_category(ita_degrees(lab)) == expected


def test_monk_steps_of_the_reference_colours_are_themselves():
    assert [monk_step(rgb_to_lab(parse_hex(h))) for h in MONK_SCALE] == list(range(1, 11))


def test_undertone_from_hue_angle():
    assert undertone((60, 20, 8)) == "cool" and undertone((60, 12, 14)) == "neutral"
    assert undertone((60, 8, 25)) == "warm"


def test_rank_shades_orders_by_distance_and_breaks_ties_by_undertone():
    candidates = [ShadeCandidate("far", "#3F271B"), ShadeCandidate("near", "#D9B38C"),
                  ShadeCandidate("mid", "#C48E5F")]
    matches = rank_shades(rgb_to_lab(parse_hex("#D6B08A")), candidates, limit=3)
    assert [m.candidate.key for m in matches] == ["near", "mid", "far"]
    assert matches[0].delta_e < matches[1].delta_e < matches[2].delta_e


def test_analyze_api_recommends_foundations(makeup_app):
    client = makeup_app.test_client()
    response = client.post("/api/v1/face/analyze",
                           data={"image": (io.BytesIO(encode(grace_hopper(), "JPEG", quality=95)), "me.jpg")})
    assert response.status_code == 200 and "no-store" in response.headers["Cache-Control"]
    face = response.get_json()["faces"][0]
    assert set(face["skin"]) >= {"hex", "lab", "ita", "monk", "undertone", "confidence"}
    recommendations = face["recommendations"]
    assert len(recommendations) == 3
    assert all(r["product_type"] in ("foundation", "concealer") for r in recommendations)
    distances = [r["delta_e"] for r in recommendations]
    assert distances == sorted(distances)


def test_find_this_lipstick_api(makeup_app, landmarker):
    image = grace_hopper()  # closed lips several pixels thick; the landmarks are found again on upload
    face = landmarker.detect(image)[0]
    wearing = render_look(np.asarray(image), [face], [Layer.of("lipstick", "#7B2D43", "satin", 1.0)])
    client = makeup_app.test_client()
    response = client.post("/api/v1/shades/match?k=3",
                           data={"image": (io.BytesIO(encode(Image.fromarray(wearing), "PNG")), "insta.png")})
    assert response.status_code == 200
    body = response.get_json()
    assert body["matches"][0]["id"] == "lip-berry" and body["matches"][0]["delta_e"] < 5
    assert len(body["matches"]) == 3 and body["lip_color"].startswith("#")


@pytest.mark.parametrize("url", ["/api/v1/face/analyze", "/api/v1/shades/match"])
def test_no_face_is_422(makeup_app, url):
    response = makeup_app.test_client().post(url, data={"image": (io.BytesIO(encode(gradient_image(), "PNG")), "x.png")})
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "no_face"
