"""Soft masks for each makeup zone, in the coordinates of a face's region of interest.

Polygons are filled at 1/16-pixel precision with anti-aliasing, then feathered with a Gaussian whose
radius is a fraction of the face's eye-corner distance, so a small face and a close-up look the same.
Holes (the mouth opening, the eyes) are dilated before blurring so colour never bleeds into them, and
are cut out hard at the end: teeth and eyes are never coloured.
"""

from __future__ import annotations

import cv2
import numpy as np

from vision.looks import ProductType
from vision.regions import CHEEK_CENTRE, MOUTH_CORNERS, OUTER_EYE_CORNER, index_sets

SUBPIXEL_BITS = 4
WIDE_BLUR = 6.0  # sigma in pixels above which blurring happens at a reduced scale
SIDES = ("left", "right")

# Zone shapes, in fractions of the face's eye-corner distance. The live (in-browser) renderer reads these same
# values from /api/v1/tryon/live, so the camera view and the rendered photo draw the same zones.
LIP_FEATHER = 0.02
LID_BANDS = {  # from the upper lash line toward the brow: how far, the outer wing's length, the feather
    ProductType.EYESHADOW: {"reach": 0.55, "wing": 0.0, "feather": 0.045},
    ProductType.EYELINER: {"reach": 0.08, "wing": 0.09, "feather": 0.006},
}
WING_TAPER = 0.45  # a winged band narrows to this share of its reach at the outer corner
WING_LIFT = 0.35   # the wing's tip rises this share of its length toward the brow
CHEEK = {"long_axis": 0.26, "short_axis": 0.17, "lift": 0.12, "feather": 0.12, "oval_feather": 0.01}
# Holes colour never enters: each is grown (a whole number of pixels, at least 1) then lightly feathered.
MOUTH_GUARD = {"grow": 0.012, "feather": 0.006}
EYE_GUARD = {"grow": 0.01, "feather": 0.005}


class FaceGeometry:
    """One face's landmarks shifted into a region of interest, plus its size unit."""

    def __init__(self, landmarks: np.ndarray, origin: tuple[int, int], shape: tuple[int, int], unit: float):
        self.points = landmarks - np.asarray(origin, np.float32)
        self.shape = shape
        self.unit = max(unit, 4.0)

    def crop(self, window: tuple[slice, slice]) -> "FaceGeometry":
        """The same face seen through a sub-window of this region."""
        rows, cols = window
        return FaceGeometry(self.points, (cols.start, rows.start), (rows.stop - rows.start, cols.stop - cols.start),
                            self.unit)

    def region(self, name: str) -> np.ndarray:
        return self.points[list(index_sets()[name])]

    def fill(self, *polygons: np.ndarray) -> np.ndarray:
        """Hard-edged (anti-aliased) float32 mask of the union of ``polygons``."""
        canvas = np.zeros(self.shape, np.uint8)
        scaled = [np.round(p * (1 << SUBPIXEL_BITS)).astype(np.int32) for p in polygons]
        cv2.fillPoly(canvas, scaled, 255, lineType=cv2.LINE_AA, shift=SUBPIXEL_BITS)
        return canvas.astype(np.float32) * (1.0 / 255.0)

    def blur(self, mask: np.ndarray, fraction: float) -> np.ndarray:
        """Gaussian feather; wide ones run on a downscaled mask (same result to the eye, ~10x faster)."""
        sigma = max(fraction * self.unit, 0.5)
        if sigma <= WIDE_BLUR:
            return cv2.GaussianBlur(mask, (0, 0), sigma)
        factor = sigma / (WIDE_BLUR / 2)
        height, width = mask.shape
        small = cv2.resize(mask, (max(1, round(width / factor)), max(1, round(height / factor))),
                           interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (0, 0), WIDE_BLUR / 2)
        return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)

    def grow(self, mask: np.ndarray, fraction: float) -> np.ndarray:
        radius = max(int(round(fraction * self.unit)), 1)
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        return cv2.dilate(mask, kernel)

    def shrink(self, mask: np.ndarray, fraction: float) -> np.ndarray:
        radius = max(int(round(fraction * self.unit)), 1)
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        return cv2.erode(mask, kernel)


# Landmark regions bounding each zone, and the margin (in face units) its feathering can reach.
ZONE_EXTENT: dict[ProductType, tuple[tuple[str, ...], float]] = {
    ProductType.LIPSTICK: (("lips_outer",), 0.12),
    ProductType.LIP_LINER: (("lips_outer",), 0.08),
    ProductType.EYESHADOW: (("left_eye", "right_eye", "left_brow_lower", "right_brow_lower"), 0.2),
    ProductType.EYELINER: (("left_eye", "right_eye", "left_brow_lower", "right_brow_lower"), 0.15),
    ProductType.BLUSH: (("cheek_centres",), 0.62),  # ellipse (0.26) + 3 sigma of its blur (0.36)
    ProductType.FOUNDATION: (("face_oval",), 0.02),
    ProductType.CONCEALER: (("left_eye", "right_eye"), 0.45),
    ProductType.BROW: (("left_brow", "right_brow"), 0.08),
}


def zone_window(kind: ProductType, face: FaceGeometry) -> tuple[slice, slice]:
    """The part of the region a zone can touch: all work for a layer happens inside it."""
    names, margin = ZONE_EXTENT[kind]
    points = np.concatenate([face.points[[*CHEEK_CENTRE.values()]] if name == "cheek_centres" else face.region(name)
                             for name in names])
    pad = margin * face.unit + 2
    low = np.floor(points.min(axis=0) - pad).astype(int)
    high = np.ceil(points.max(axis=0) + pad).astype(int)
    height, width = face.shape
    left, top = max(int(low[0]), 0), max(int(low[1]), 0)
    right, bottom = min(int(high[0]), width), min(int(high[1]), height)
    return slice(top, max(bottom, top + 1)), slice(left, max(right, left + 1))


def zone_mask_in_window(kind: ProductType, face: FaceGeometry) -> tuple[tuple[slice, slice], np.ndarray]:
    window = zone_window(kind, face)
    return window, _zone(kind, face.crop(window))


def zone_mask(kind: ProductType, face: FaceGeometry) -> np.ndarray:
    """Float32 mask in 0..1 over the whole region for where ``kind`` goes on this face."""
    window, mask = zone_mask_in_window(kind, face)
    full = np.zeros(face.shape, np.float32)
    full[window] = mask
    return full


def _zone(kind: ProductType, face: FaceGeometry) -> np.ndarray:
    match kind:
        case ProductType.LIPSTICK:
            return _lips(face)
        case ProductType.LIP_LINER:
            outline = face.fill(face.region("lips_outer"))
            return face.blur(outline - face.shrink(outline, 0.035), 0.008) * _mouth_guard(face)
        case ProductType.EYESHADOW | ProductType.EYELINER:
            band = LID_BANDS[kind]
            return _around_eyes(face, lambda side: _lid_band(face, side, reach=band["reach"], wing=band["wing"]),
                                band["feather"])
        case ProductType.BLUSH:
            cheeks = face.blur(np.maximum(*(_cheek(face, side) for side in SIDES)), CHEEK["feather"])
            return cheeks * face.blur(face.fill(face.region("face_oval")), CHEEK["oval_feather"])  # never on hair
        case ProductType.FOUNDATION:
            return _skin(face)
        case ProductType.CONCEALER:
            return _around_eyes(face, lambda side: _under_eye(face, side), 0.05)
        case ProductType.BROW:
            brows = face.fill(face.region("left_brow"), face.region("right_brow"))
            return face.blur(brows, 0.012)
        case _:
            raise ValueError(f"No zone for {kind!r}")


def _lips(face: FaceGeometry) -> np.ndarray:
    lips = face.blur(face.fill(face.region("lips_outer")), LIP_FEATHER)
    return lips * _mouth_guard(face)


def _mouth_guard(face: FaceGeometry) -> np.ndarray:
    """1 away from the mouth opening, 0 inside it: a slightly grown, lightly blurred, hard-cut hole."""
    opening = face.fill(face.region("mouth_opening"))
    soft = face.blur(face.grow(opening, MOUTH_GUARD["grow"]), MOUTH_GUARD["feather"])
    return (1.0 - np.maximum(soft, opening > 0.02)).astype(np.float32)


def _eye_guard(face: FaceGeometry) -> np.ndarray:
    eyes = face.fill(face.region("left_eye"), face.region("right_eye"))
    soft = face.blur(face.grow(eyes, EYE_GUARD["grow"]), EYE_GUARD["feather"])
    return (1.0 - np.maximum(soft, eyes > 0.02)).astype(np.float32)


def _around_eyes(face: FaceGeometry, polygon_of, feather: float) -> np.ndarray:
    mask = face.fill(*(polygon_of(side) for side in SIDES))
    return face.blur(mask, feather) * _eye_guard(face)


def _lid_band(face: FaceGeometry, side: str, reach: float, wing: float) -> np.ndarray:
    """From the upper lash line toward the brow, ``reach`` of the way; an optional outer wing."""
    lid = face.region(f"{side}_upper_lid")
    brow = _resample(face.region(f"{side}_brow_lower"), len(lid))
    taper = np.linspace(1.0, WING_TAPER, len(lid))[:, None] if wing else 1.0
    upper = lid + reach * taper * (brow - lid)
    outline = [lid, upper[::-1]]
    if wing:
        outer, inner = lid[0], lid[-1]
        along = (outer - inner) / max(np.linalg.norm(outer - inner), 1e-6)
        up = (brow[0] - outer) / max(np.linalg.norm(brow[0] - outer), 1e-6)
        tip = outer + wing * face.unit * along + WING_LIFT * wing * face.unit * up
        outline = [tip[None, :], lid, upper[::-1]]
    return np.concatenate(outline).astype(np.float32)


def _under_eye(face: FaceGeometry, side: str) -> np.ndarray:
    eye = face.region(f"{side}_eye")
    lower = eye[eye[:, 1] >= np.median(eye[:, 1])]
    lower = lower[np.argsort(lower[:, 0])]
    drop = np.array([0.0, 0.22 * face.unit], np.float32)
    return np.concatenate([lower, (lower + drop)[::-1]]).astype(np.float32)


def _cheek(face: FaceGeometry, side: str) -> np.ndarray:
    """An ellipse on the cheekbone, tilted from the mouth corner toward the outer eye corner."""
    centre = face.points[CHEEK_CENTRE[side]]
    mouth = face.points[MOUTH_CORNERS[0] if side == "left" else MOUTH_CORNERS[1]]
    eye = face.points[OUTER_EYE_CORNER[side]]
    direction = eye - mouth
    angle = float(np.degrees(np.arctan2(direction[1], direction[0])))
    centre = centre + CHEEK["lift"] * direction  # toward the cheekbone; ZONE_EXTENT's blush margin allows for it
    canvas = np.zeros(face.shape, np.uint8)
    axes = (int(CHEEK["long_axis"] * face.unit * 16), int(CHEEK["short_axis"] * face.unit * 16))
    cv2.ellipse(canvas, (int(centre[0] * 16), int(centre[1] * 16)), axes, angle, 0, 360, 255, -1,
                lineType=cv2.LINE_AA, shift=SUBPIXEL_BITS)
    return canvas.astype(np.float32) / 255.0


def _skin(face: FaceGeometry) -> np.ndarray:
    """The face oval minus eyes, brows and lips, feathered inward so it never spills past the jaw."""
    oval = face.fill(face.region("face_oval"))
    keep_out = face.grow(face.fill(face.region("left_eye"), face.region("right_eye"),
                                   face.region("left_brow"), face.region("right_brow"),
                                   face.region("lips_outer")), 0.04)
    skin = face.blur(face.shrink(oval, 0.05) * (1.0 - keep_out), 0.05)
    return skin * oval


def _resample(points: np.ndarray, count: int) -> np.ndarray:
    """``count`` points evenly spaced by arc length along a polyline."""
    steps = np.linalg.norm(np.diff(points, axis=0), axis=1)
    distance = np.concatenate([[0.0], np.cumsum(steps)])
    targets = np.linspace(0.0, distance[-1], count)
    return np.stack([np.interp(targets, distance, points[:, axis]) for axis in (0, 1)], axis=1).astype(np.float32)
