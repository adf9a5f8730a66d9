"""Render a makeup look on faces: colour moved in CIELAB while the skin's own texture stays.

For each layer the zone's mean lightness is shifted toward the shade while each pixel keeps its
deviation from that mean (lip creases, pores, shading), and chroma/hue are pulled to the shade's.
Finishes then act on that texture: matte flattens highlights, gloss brightens the zone's own
brightest areas, shimmer and metallic add fine sparkle. Only pixels under a mask are written, so
everything else — and every pixel of a layer at intensity 0 — stays bit-exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from vision.color import image_to_lab, lab_to_image, rgb_to_lab
from vision.face import Face
from vision.looks import STACKING, Finish, Layer, ProductType
from vision.masks import FaceGeometry, zone_mask_in_window

ROI_MARGIN = 0.35  # of the eye-corner distance, around the face box


@dataclass(frozen=True)
class Recipe:
    """How strongly a product type moves lightness and how much chroma texture it keeps."""

    coverage: float        # scales the layer's intensity (blush and foundation are sheer)
    lightness: float       # 0: keep the skin's lightness, 1: take the shade's mean lightness
    chroma_texture: float  # share of the original a*/b* variation kept


RECIPES = {
    ProductType.LIPSTICK: Recipe(1.0, 1.0, 0.2),
    ProductType.LIP_LINER: Recipe(1.0, 0.9, 0.1),
    ProductType.EYESHADOW: Recipe(0.95, 0.8, 0.2),
    ProductType.EYELINER: Recipe(1.0, 1.0, 0.0),
    ProductType.BLUSH: Recipe(0.5, 0.3, 0.5),
    ProductType.FOUNDATION: Recipe(0.55, 0.6, 0.5),
    ProductType.CONCEALER: Recipe(0.6, 0.7, 0.4),
    ProductType.BROW: Recipe(0.8, 0.7, 0.2),
}


def render_look(pixels: np.ndarray, faces: Sequence[Face], layers: Sequence[Layer], *,
                in_place: bool = False) -> np.ndarray:
    """Apply ``layers`` to every face of uint8 RGB ``pixels`` ``(h, w, 3)``: into a copy, or ``in_place``."""
    active = sorted((layer for layer in layers if layer.intensity > 0), key=lambda l: STACKING.index(l.product_type))
    output = pixels if in_place else pixels.copy()
    if not active:
        return output
    for face in faces:
        _render_face(output, face, active)
    return output


def _render_face(output: np.ndarray, face: Face, layers: Sequence[Layer]) -> None:
    height, width = output.shape[:2]
    margin = ROI_MARGIN * face.eye_distance
    left = int(max(0, np.floor(face.box.x - margin)))
    top = int(max(0, np.floor(face.box.y - margin)))
    right = int(min(width, np.ceil(face.box.x + face.box.width + margin)))
    bottom = int(min(height, np.ceil(face.box.y + face.box.height + margin)))
    if right - left < 4 or bottom - top < 4:
        return
    roi = output[top:bottom, left:right]
    geometry = FaceGeometry(face.landmarks, (left, top), roi.shape[:2], face.eye_distance)
    zones = [(layer, *zone_mask_in_window(layer.product_type, geometry)) for layer in layers]
    rows = slice(min(w[0].start for _, w, _ in zones), max(w[0].stop for _, w, _ in zones))
    cols = slice(min(w[1].start for _, w, _ in zones), max(w[1].stop for _, w, _ in zones))
    area = roi[rows, cols]  # only the union of the layers' windows is converted to CIELAB and back
    planes = list(cv2.split(image_to_lab(area)))  # contiguous L*, a*, b* planes: fast arithmetic
    original_lightness = planes[0].copy()
    touched = np.zeros(area.shape[:2], np.float32)
    for layer, window, mask in zones:
        recipe = RECIPES[layer.product_type]
        weight = mask * np.float32(layer.intensity * recipe.coverage)
        if not weight.any():
            continue
        local = (slice(window[0].start - rows.start, window[0].stop - rows.start),
                 slice(window[1].start - cols.start, window[1].stop - cols.start))
        zone = [plane[local] for plane in planes]  # views: each layer works in place, inside its window
        core = _core(weight)
        _tint(zone, weight, core, rgb_to_lab(layer.color), recipe)
        _finish(zone, original_lightness[local], weight, core, layer.finish, geometry.unit)
        np.maximum(touched[local], weight, out=touched[local])
    changed = touched > (0.5 / 255.0)
    if changed.any():
        area[changed] = lab_to_image(cv2.merge(planes))[changed]


def _tint(zone: list[np.ndarray], weight: np.ndarray, core: np.ndarray, shade: np.ndarray, recipe: Recipe) -> None:
    """Shift the zone's mean toward ``shade``, keeping each pixel's deviation from that mean.

    In closed form, per pixel with weight w: L += w * s * (L_shade - mean_L), and
    ab = (1 - w (1 - t)) ab + w (ab_shade - t mean_ab), t being the share of chroma texture kept.
    """
    lightness, a, b = zone
    means = [float(plane[core].mean()) for plane in zone]
    lightness += weight * np.float32(recipe.lightness * (shade[0] - means[0]))
    np.clip(lightness, 0, 100, out=lightness)
    texture = recipe.chroma_texture
    keep = 1.0 - weight * np.float32(1.0 - texture)
    for plane, target, mean in ((a, shade[1], means[1]), (b, shade[2], means[2])):
        plane *= keep
        plane += weight * np.float32(target - texture * mean)


def _core(weight: np.ndarray) -> np.ndarray:
    """The fully covered part of a zone, whose mean the shade replaces (its feathered rim follows)."""
    core = weight > 0.9 * weight.max()
    return core if core.sum() >= 20 else weight > 0.5 * weight.max()


def _finish(zone: list[np.ndarray], original_lightness: np.ndarray, weight: np.ndarray, core: np.ndarray,
            finish: Finish, unit: float) -> None:
    if finish is Finish.SATIN:
        return
    lightness, a, b = zone
    mean = float(lightness[core].mean())
    match finish:
        case Finish.MATTE:
            lightness -= weight * 0.5 * np.maximum(lightness - mean, 0)
        case Finish.GLOSS:
            shine = weight * _highlights(original_lightness, core, unit)
            lightness += shine * (100 - lightness) * 0.55
            dull = 1 - 0.5 * shine
            a *= dull
            b *= dull
        case Finish.SHIMMER | Finish.METALLIC:
            metallic = finish is Finish.METALLIC
            if metallic:
                lightness += weight * 0.4 * (lightness - mean)
                lightness += weight * _highlights(original_lightness, core, unit) * 12
            lightness += weight * _sparkle(weight.shape, density=0.004 if metallic else 0.012) * 30
            np.clip(lightness, 0, 100, out=lightness)
        case _:
            raise ValueError(f"Unknown finish {finish!r}")


def _highlights(lightness: np.ndarray, core: np.ndarray, unit: float) -> np.ndarray:
    """0..1 where the zone is already brightest: gloss follows the lips' own light."""
    values = lightness[core]
    low, high = np.percentile(values, 75), np.percentile(values, 99)
    shine = np.clip((lightness - low) / max(high - low, 1e-3), 0, 1) ** 1.5
    return cv2.GaussianBlur(shine.astype(np.float32), (0, 0), max(0.008 * unit, 0.6))


def _sparkle(shape: tuple[int, int], density: float) -> np.ndarray:
    """Sparse fine glints; seeded by the shape so the same request renders the same bytes."""
    rng = np.random.default_rng(shape[0] * 100_003 + shape[1])
    points = (rng.random(shape) < density).astype(np.float32)
    return np.clip(cv2.GaussianBlur(points, (0, 0), 0.7) * 4.0, 0, 1)
