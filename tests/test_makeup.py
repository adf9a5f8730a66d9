"""Rendering quality on real faces: colour lands on the lips only, in the right shade, never on teeth
or eyes, intensity 0 is the identity, and finishes look different."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import astronaut, grace_hopper, group_photo
from vision.color import chroma_hue_difference, hex_to_lab, image_to_lab
from vision.looks import Layer, ProductType
from vision.makeup import render_look
from vision.masks import FaceGeometry, zone_mask

# Hue/chroma CIEDE2000 between the mean lip colour and the shade at intensity 1. 2.5 is about "barely
# visible"; it leaves room for the 20 % of the lips' own chroma variation kept on purpose as texture.
MAX_HUE_CHROMA_DE = 2.5
SHADES = ["#9B1B30", "#C41E3A", "#F0643C", "#C08081", "#5C2340", "#E75480", "#F4A384", "#8C5A3C"]
FACES = {"astronaut": astronaut, "grace_hopper": grace_hopper}


@pytest.fixture(scope="module", params=list(FACES))
def face_photo(request, landmarker):
    image = FACES[request.param]()
    return np.asarray(image), landmarker.detect(image)[0]


def geometry(pixels, face) -> FaceGeometry:
    return FaceGeometry(face.landmarks, (0, 0), pixels.shape[:2], face.eye_distance)


def changed(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Per-pixel change magnitude (sum of absolute channel differences)."""
    return np.abs(after.astype(np.int16) - before.astype(np.int16)).sum(axis=2).astype(np.float64)


def test_lipstick_changes_the_lips_and_nothing_else(face_photo):
    pixels, face = face_photo
    out = render_look(pixels, [face], [Layer.of("lipstick", "#C41E3A", "matte")])
    delta = changed(pixels, out)
    g = geometry(pixels, face)
    near_lips = g.grow(g.fill(g.region("lips_outer")), 0.06) > 0
    assert delta.sum() > 0
    assert delta[near_lips].sum() / delta.sum() >= 0.95
    box = face.box
    outside = np.ones(delta.shape, bool)
    outside[int(box.y):int(np.ceil(box.y + box.height)) + 1, int(box.x):int(np.ceil(box.x + box.width)) + 1] = False
    assert delta[outside].max() == 0


@pytest.mark.parametrize("shade", SHADES)
def test_lip_interior_takes_the_shade(face_photo, shade):
    pixels, face = face_photo
    out = render_look(pixels, [face], [Layer.of("lipstick", shade, "matte", 1.0)])
    interior = zone_mask(ProductType.LIPSTICK, geometry(pixels, face)) > 0.9
    assert interior.sum() >= 20
    mean_lab = image_to_lab(out)[interior].mean(axis=0)
    assert chroma_hue_difference(mean_lab, hex_to_lab(shade)) <= MAX_HUE_CHROMA_DE


def test_lip_texture_is_kept(face_photo):
    pixels, face = face_photo
    out = render_look(pixels, [face], [Layer.of("lipstick", "#9B1B30", "satin")])
    interior = zone_mask(ProductType.LIPSTICK, geometry(pixels, face)) > 0.9
    before, after = image_to_lab(pixels)[interior][:, 0], image_to_lab(out)[interior][:, 0]
    assert np.corrcoef(before, after)[0, 1] > 0.6  # creases and highlights stay where they were
    assert after.std() > 0.4 * before.std()         # not a flat painted colour


def test_teeth_and_mouth_opening_are_never_coloured(landmarker):
    image = astronaut()  # smiling with teeth showing
    pixels = np.asarray(image)
    face = landmarker.detect(image)[0]
    out = render_look(pixels, [face], [Layer.of("lipstick", "#5C2340", "gloss"), Layer.of("lip_liner", "#65000B")])
    g = geometry(pixels, face)
    opening = g.shrink(g.fill(g.region("mouth_opening")), 0.005) > 0.5
    assert opening.sum() > 30
    assert changed(pixels, out)[opening].max() == 0


def test_eyes_are_never_coloured(face_photo):
    pixels, face = face_photo
    look = [Layer.of("eyeshadow", "#1F6B4E", "shimmer"), Layer.of("eyeliner", "#111111"),
            Layer.of("concealer", "#EDCFB4")]
    out = render_look(pixels, [face], look)
    g = geometry(pixels, face)
    eyes = g.fill(g.region("left_eye"), g.region("right_eye")) > 0.5
    delta = changed(pixels, out)
    assert delta[eyes].max() == 0 and delta.sum() > 0


@pytest.mark.parametrize("kind", list(ProductType))
def test_every_product_type_renders_inside_the_face(face_photo, kind):
    pixels, face = face_photo
    out = render_look(pixels, [face], [Layer.of(kind.value, "#8E4B3A", "matte")])
    delta = changed(pixels, out)
    g = geometry(pixels, face)
    assert delta.sum() > 0
    oval = g.grow(g.fill(g.region("face_oval")), 0.05) > 0
    assert delta[~oval].sum() <= 0.02 * delta.sum()


def test_intensity_zero_is_bit_exact_and_rendering_is_deterministic(face_photo):
    pixels, face = face_photo
    none = render_look(pixels, [face], [Layer.of("lipstick", "#C41E3A", "gloss", 0.0),
                                        Layer.of("blush", "#F1A7B5", "shimmer", 0.0)])
    assert np.array_equal(none, pixels)
    look = [Layer.of("lipstick", "#C41E3A", "shimmer", 0.7), Layer.of("blush", "#F1A7B5", "satin", 0.5)]
    assert np.array_equal(render_look(pixels, [face], look), render_look(pixels, [face], look))


def test_intensity_scales_the_effect(face_photo):
    pixels, face = face_photo
    effects = [changed(pixels, render_look(pixels, [face], [Layer.of("lipstick", "#9B1B30", "matte", i)])).sum()
               for i in (0.25, 0.5, 1.0)]
    assert effects[0] < effects[1] < effects[2]


def test_finishes_differ_visibly(face_photo):
    pixels, face = face_photo
    g = geometry(pixels, face)
    lips = zone_mask(ProductType.LIPSTICK, g) > 0.5
    rendered = {finish: render_look(pixels, [face], [Layer.of("lipstick", "#C41E3A", finish)])
                for finish in ("matte", "satin", "gloss", "shimmer", "metallic")}
    lightness = {finish: image_to_lab(image)[lips][:, 0] for finish, image in rendered.items()}
    assert np.percentile(lightness["gloss"], 95) > np.percentile(lightness["matte"], 95) + 3
    assert np.percentile(lightness["matte"], 95) <= np.percentile(lightness["satin"], 95)
    for a in rendered:
        for b in rendered:
            if a < b:
                assert changed(rendered[a], rendered[b])[lips].mean() > 1.0, (a, b)


def test_every_face_of_a_group_is_made_up(landmarker):
    image = group_photo()
    pixels = np.asarray(image)
    faces = landmarker.detect(image)
    out = render_look(pixels, faces, [Layer.of("lipstick", "#C41E3A")])
    for face in faces:
        g = geometry(pixels, face)
        assert changed(pixels, out)[g.fill(g.region("lips_outer")) > 0.5].mean() > 10
