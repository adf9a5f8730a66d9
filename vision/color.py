"""Colour maths in one place: sRGB <-> CIELAB (D65) and the CIEDE2000 colour difference.

Image-sized conversions use OpenCV's float32 path (sRGB companding, D65 white), which is ~10x faster
than numpy for a face region; single colours go through the very same function on a 1x1 image, so
a shade and the pixels it is compared with are always converted identically.
"""

from __future__ import annotations

import re

import cv2
import numpy as np

_HEX = re.compile(r"^#?([0-9a-fA-F]{6})$")
HUE_EPSILON = 1e-9


def parse_hex(value: str) -> tuple[int, int, int]:
    """``#RRGGBB`` -> (r, g, b).  :raise ValueError: for anything else."""
    match = _HEX.match(value.strip()) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"{value!r} is not a colour like #RRGGBB")
    digits = match.group(1)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def to_hex(rgb) -> str:
    r, g, b = (int(round(float(np.clip(c, 0, 255)))) for c in rgb)
    return f"#{r:02X}{g:02X}{b:02X}"


def srgb_to_linear(srgb: np.ndarray) -> np.ndarray:
    """sRGB companding removed (values 0..1), for light arithmetic such as white balance."""
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    return np.where(linear <= 0.0031308, linear * 12.92, 1.055 * np.power(linear, 1 / 2.4) - 0.055)


def image_to_lab(pixels: np.ndarray) -> np.ndarray:
    """uint8 RGB ``(h, w, 3)`` -> float32 CIELAB ``(h, w, 3)`` with L in 0..100."""
    return cv2.cvtColor(pixels.astype(np.float32) * (1.0 / 255.0), cv2.COLOR_RGB2Lab)


def lab_to_image(lab: np.ndarray) -> np.ndarray:
    """float32 CIELAB ``(h, w, 3)`` -> uint8 RGB, clipped to the sRGB gamut."""
    rgb = cv2.cvtColor(np.ascontiguousarray(lab, dtype=np.float32), cv2.COLOR_Lab2RGB)
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def rgb_to_lab(rgb) -> np.ndarray:
    """One colour (0..255 per channel) -> float32 ``(3,)`` CIELAB."""
    return image_to_lab(np.asarray(rgb, dtype=np.float32).reshape(1, 1, 3))[0, 0]


def lab_to_rgb(lab) -> np.ndarray:
    return lab_to_image(np.asarray(lab, dtype=np.float32).reshape(1, 1, 3))[0, 0]


def hex_to_lab(value: str) -> np.ndarray:
    return rgb_to_lab(parse_hex(value))


def ciede2000(lab1, lab2, k_l: float = 1.0, k_c: float = 1.0, k_h: float = 1.0) -> np.ndarray:
    """CIEDE2000 colour difference (Sharma, Wu & Dalal 2005), vectorised over leading axes."""
    lab1 = np.asarray(lab1, dtype=np.float64)
    lab2 = np.asarray(lab2, dtype=np.float64)
    l1, a1, b1 = np.moveaxis(lab1, -1, 0)
    l2, a2, b2 = np.moveaxis(lab2, -1, 0)
    c_bar = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_bar ** 7 / (c_bar ** 7 + 25.0 ** 7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    h1p = np.where(c1p == 0, 0.0, h1p)
    h2p = np.where(c2p == 0, 0.0, h2p)

    delta_l = l2 - l1
    delta_c = c2p - c1p
    dh = h2p - h1p
    # Pairs exactly 180 degrees apart sit on the formula's branch point: decide with a tolerance,
    # so float rounding of the hue angles cannot flip the branch (Sharma et al.'s pairs 13-14).
    dh = np.where(dh > 180 + HUE_EPSILON, dh - 360, np.where(dh < -180 - HUE_EPSILON, dh + 360, dh))
    dh = np.where(c1p * c2p == 0, 0.0, dh)
    delta_h = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh) / 2)

    l_bar = (l1 + l2) / 2
    cp_bar = (c1p + c2p) / 2
    h_sum = h1p + h2p
    h_bar = np.where(np.abs(h1p - h2p) > 180 + HUE_EPSILON, np.where(h_sum < 360, (h_sum + 360) / 2, (h_sum - 360) / 2),
                     h_sum / 2)
    h_bar = np.where(c1p * c2p == 0, h_sum, h_bar)
    t = (1 - 0.17 * np.cos(np.radians(h_bar - 30)) + 0.24 * np.cos(np.radians(2 * h_bar))
         + 0.32 * np.cos(np.radians(3 * h_bar + 6)) - 0.20 * np.cos(np.radians(4 * h_bar - 63)))
    delta_theta = 30 * np.exp(-(((h_bar - 275) / 25) ** 2))
    r_c = 2 * np.sqrt(cp_bar ** 7 / (cp_bar ** 7 + 25.0 ** 7))
    s_l = 1 + 0.015 * (l_bar - 50) ** 2 / np.sqrt(20 + (l_bar - 50) ** 2)
    s_c = 1 + 0.045 * cp_bar
    s_h = 1 + 0.015 * cp_bar * t
    r_t = -np.sin(np.radians(2 * delta_theta)) * r_c
    return np.sqrt((delta_l / (k_l * s_l)) ** 2 + (delta_c / (k_c * s_c)) ** 2 + (delta_h / (k_h * s_h)) ** 2
                   + r_t * (delta_c / (k_c * s_c)) * (delta_h / (k_h * s_h)))


def chroma_hue_difference(lab1, lab2) -> np.ndarray:
    """CIEDE2000 with lightness ignored: how far apart two colours are in hue and chroma alone."""
    lab1 = np.asarray(lab1, dtype=np.float64).copy()
    lab2 = np.asarray(lab2, dtype=np.float64).copy()
    lab1[..., 0] = lab2[..., 0] = 50.0
    return ciede2000(lab1, lab2)
