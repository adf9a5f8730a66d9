"""Shade intelligence: measure skin tone and lip colour on a face, rank catalog shades against them.

Skin tone
    Skin is sampled from both cheeks and the forehead (landmark patches). In each patch, pixels whose
    hue is not skin-like (hair, brows, glasses frames, background) are dropped, then shadows and
    specular highlights (outside the 10th-90th percentile of L*); the patch median is taken, and the
    median over patches is the skin colour. The result carries ITA° and its category, the nearest
    Monk Skin Tone step, the undertone from the hue angle, and a confidence that drops for small
    faces, dark or blown-out exposure, disagreeing patches and few usable pixels.

White balance (optional, on by default)
    Shades-of-grey (Finlayson & Trezzi 2004; the Minkowski p=6 mean, which lets bright, neutral
    areas weigh most) on the *background*: that mean of the linear-RGB pixels outside the face is
    taken as the light's colour, and the skin samples are divided by it (von Kries), with gains that
    keep a neutral colour's luminance and are bounded to 1/1.6..1.6. Only background pixels are used because grey-world methods on a frame filled with
    a face "corrects" skin toward grey; for the same reason it is applied only when the background
    covers at least 30 % of the photo, and otherwise the reading is left as is. A strongly coloured
    backdrop biases the absolute reading (the bound limits how much), but it removes a colour cast
    the same way whatever the backdrop, so readings under different lights agree.

Lip colour ("find this lipstick")
    The mean CIELAB colour of the lip interior after leaving out the mouth opening, teeth (bright and
    colourless), specular highlights (the brightest 15 %) and deep creases (the darkest 15 %).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from vision.color import (ciede2000, image_to_lab, lab_to_rgb, linear_to_srgb, parse_hex, rgb_to_lab,
                          srgb_to_linear, to_hex)
from vision.face import Face
from vision.looks import ProductType
from vision.masks import FaceGeometry, zone_mask
from vision.regions import SKIN_PATCHES

# Monk Skin Tone scale reference colours, steps 1..10 (Ellis Monk; Google, https://skintone.google/get-started).
MONK_SCALE = ("#F6EDE4", "#F3E7DB", "#F7EAD0", "#EADABA", "#D7BD96",
              "#A07E56", "#825C43", "#604134", "#3A312A", "#292420")
ITA_CATEGORIES = ((55.0, "very_light"), (41.0, "light"), (28.0, "intermediate"), (10.0, "tan"),
                  (-30.0, "brown"), (-float("inf"), "dark"))
COOL_BELOW, WARM_ABOVE = 45.0, 55.0   # hue angle h = atan2(b*, a*) in degrees
SKIN_HUE_RANGE = (15.0, 95.0)         # hue angles skin takes under ordinary light
MIN_BACKGROUND_SHARE = 0.30
MAX_GAIN = 1.6                        # bounds the correction a strongly coloured backdrop can cause
MINKOWSKI_P = 6                       # shades-of-grey norm: bright, neutral areas weigh most
LUMINANCE = np.array([0.2126, 0.7152, 0.0722], np.float32)


@dataclass(frozen=True)
class SkinTone:
    lab: tuple[float, float, float]
    hex: str
    ita: float
    ita_category: str
    monk: int
    undertone: str
    hue_angle: float
    confidence: float
    white_balanced: bool

    def as_json(self) -> dict:
        return {"hex": self.hex, "lab": [round(v, 2) for v in self.lab], "ita": round(self.ita, 1),
                "ita_category": self.ita_category, "monk": self.monk, "undertone": self.undertone,
                "confidence": round(self.confidence, 2), "white_balanced": self.white_balanced}


@dataclass(frozen=True)
class ShadeCandidate:
    """Anything with a shade: the app passes catalog products, keyed by ``key``."""

    key: str
    hex: str


@dataclass(frozen=True)
class ShadeMatch:
    candidate: ShadeCandidate
    delta_e: float


def ita_degrees(lab) -> float:
    """Individual Typology Angle: atan2(L* - 50, b*) in degrees."""
    return float(np.degrees(np.arctan2(lab[0] - 50.0, lab[2])))


def ita_category(ita: float) -> str:
    return next(name for bound, name in ITA_CATEGORIES if ita > bound)


def hue_angle(lab) -> float:
    return float(np.degrees(np.arctan2(lab[2], lab[1])) % 360)


def undertone(lab) -> str:
    angle = hue_angle(lab)
    return "cool" if angle < COOL_BELOW else "warm" if angle > WARM_ABOVE else "neutral"


def monk_step(lab) -> int:
    references = np.stack([rgb_to_lab(parse_hex(h)) for h in MONK_SCALE])
    return int(np.argmin(ciede2000(np.asarray(lab)[None, :], references))) + 1


def skin_tone(pixels: np.ndarray, face: Face, *, white_balance: bool = True) -> SkinTone:
    """Measure the skin colour of ``face`` in uint8 RGB ``pixels``."""
    geometry = FaceGeometry(face.landmarks, (0, 0), pixels.shape[:2], face.eye_distance)
    gains = _background_gains(pixels, geometry) if white_balance else None
    medians, usable = [], 0
    for indices in SKIN_PATCHES.values():
        samples = _patch_pixels(pixels, geometry, indices)
        if gains is not None:
            samples = _apply_gains(samples, gains)
        lab = image_to_lab(samples.reshape(-1, 1, 3)).reshape(-1, 3)
        lab = _skin_like(lab)
        if len(lab) < 12:
            continue
        low, high = np.percentile(lab[:, 0], [10, 90])
        kept = lab[(lab[:, 0] >= low) & (lab[:, 0] <= high)]
        medians.append(np.median(kept, axis=0))
        usable += len(kept)
    if not medians:
        fallback = image_to_lab(pixels[int(face.box.y):int(face.box.y + face.box.height),
                                       int(face.box.x):int(face.box.x + face.box.width)].reshape(-1, 1, 3))
        medians, usable = [np.median(fallback.reshape(-1, 3), axis=0)], 0
    lab = np.median(np.stack(medians), axis=0)
    ita = ita_degrees(lab)
    return SkinTone(lab=tuple(float(v) for v in lab), hex=to_hex(lab_to_rgb(lab)), ita=ita,
                    ita_category=ita_category(ita), monk=monk_step(lab), undertone=undertone(lab),
                    hue_angle=hue_angle(lab), confidence=_confidence(face, lab, medians, usable),
                    white_balanced=gains is not None)


def lip_color(pixels: np.ndarray, face: Face) -> np.ndarray:
    """Robust CIELAB colour of the lips (what lipstick the person wears).  Returns float ``(3,)``."""
    geometry = FaceGeometry(face.landmarks, (0, 0), pixels.shape[:2], face.eye_distance)
    lab = image_to_lab(pixels[_lip_interior(geometry)].reshape(-1, 1, 3)).reshape(-1, 3)
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    lab = lab[~((lab[:, 0] > 70) & (chroma < 12))]          # teeth showing through
    if len(lab) >= 10:  # highlights and deep creases alike: a symmetric trim keeps the mean unbiased
        low, high = np.percentile(lab[:, 0], [15, 85])
        lab = lab[(lab[:, 0] >= low) & (lab[:, 0] <= high)]
    return lab.mean(axis=0)


def _lip_interior(geometry: FaceGeometry, minimum: int = 30) -> np.ndarray:
    """The lips well inside their outline and away from the mouth opening, as tight as the lips allow.

    Landmarks wander a pixel or two, so on thin (smiling) lips a loose mask picks up skin and teeth.
    """
    lips = geometry.fill(geometry.region("lips_outer"))
    opening = geometry.fill(geometry.region("mouth_opening"))
    for margin in (0.03, 0.02, 0.01):
        inside = (geometry.shrink(lips, margin) > 0.99) & (geometry.grow(opening, margin) < 0.01)
        if inside.sum() >= minimum:
            return inside
    return zone_mask(ProductType.LIPSTICK, geometry) > 0.5


def rank_shades(target_lab, candidates: Sequence[ShadeCandidate], *, prefer_undertone: str | None = None,
                limit: int = 3) -> list[ShadeMatch]:
    """Candidates closest to ``target_lab`` by CIEDE2000; matching undertone breaks near-ties."""
    if not candidates:
        return []
    labs = np.stack([rgb_to_lab(parse_hex(c.hex)) for c in candidates])
    distances = ciede2000(np.asarray(target_lab, np.float64)[None, :], labs)

    def key(i: int):
        tie_break = 0 if prefer_undertone is None or undertone(labs[i]) == prefer_undertone else 1
        return (round(float(distances[i]), 0), tie_break, float(distances[i]))

    order = sorted(range(len(candidates)), key=key)
    return [ShadeMatch(candidates[i], float(distances[i])) for i in order[:limit]]


def _patch_pixels(pixels: np.ndarray, geometry: FaceGeometry, indices: Sequence[int]) -> np.ndarray:
    hull = cv2.convexHull(geometry.points[list(indices)].astype(np.float32))
    mask = geometry.fill(hull.reshape(-1, 2)) > 0.5
    return pixels[mask]


def _skin_like(lab: np.ndarray) -> np.ndarray:
    """Drop pixels whose colour cannot be skin: hair and brows (dark), frames, make-up, background."""
    angle = np.degrees(np.arctan2(lab[:, 2], lab[:, 1])) % 360
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    keep = (angle >= SKIN_HUE_RANGE[0]) & (angle <= SKIN_HUE_RANGE[1]) & (chroma >= 4) & (lab[:, 0] > 8)
    return lab[keep]


def _background_gains(pixels: np.ndarray, geometry: FaceGeometry) -> np.ndarray | None:
    """Per-channel linear-RGB gains that make the background grey, or None when not trustworthy."""
    face = geometry.grow(geometry.fill(geometry.region("face_oval")), 0.3) > 0
    step = max(1, int(np.sqrt(pixels.shape[0] * pixels.shape[1] / 40_000)))  # a sample is plenty
    background = pixels[::step, ::step][~face[::step, ::step]]
    if len(background) < MIN_BACKGROUND_SHARE * face[::step, ::step].size:
        return None
    linear = srgb_to_linear(background.astype(np.float32) / 255.0)
    brightness = linear.mean(axis=1)
    linear = linear[(brightness > 0.02) & (brightness < 0.95)]
    if len(linear) < 100:
        return None
    light = np.power(np.mean(np.power(linear, MINKOWSKI_P), axis=0), 1.0 / MINKOWSKI_P)
    gains = np.clip(light.mean() / np.maximum(light, 1e-6), 1 / MAX_GAIN, MAX_GAIN)
    return gains / float(LUMINANCE @ gains)  # neutral colours keep their brightness


def _apply_gains(samples: np.ndarray, gains: np.ndarray) -> np.ndarray:
    linear = srgb_to_linear(samples.astype(np.float32) / 255.0) * gains
    return np.clip(linear_to_srgb(np.clip(linear, 0, 1)) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _confidence(face: Face, lab: np.ndarray, medians: list[np.ndarray], usable: int) -> float:
    """1 for a large, evenly lit face with agreeing patches; toward 0 as any of those fails."""
    size = float(np.clip((face.eye_distance - 20.0) / 60.0, 0.0, 1.0))
    exposure = float(np.clip(min(lab[0] - 15.0, 95.0 - lab[0]) / 15.0, 0.0, 1.0))
    spread = float(np.max(ciede2000(np.stack(medians), lab[None, :]))) if len(medians) > 1 else 10.0
    agreement = float(np.clip(1.0 - (spread - 3.0) / 12.0, 0.0, 1.0))
    coverage = float(np.clip(usable / 300.0, 0.0, 1.0))
    return round(size * exposure * (0.5 + 0.5 * agreement) * (0.5 + 0.5 * coverage), 3)
