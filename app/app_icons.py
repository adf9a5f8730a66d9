"""The home-screen icons of the installable page, drawn from the logo's geometry at the sizes browsers ask for.

The logo (``static/favicon.svg``) is a magnifier on a 32-unit square: a ring and a handle. Pillow cannot
read SVG, so the same shapes are drawn here (a test keeps the two in step). Chrome wants 192 and 512 px
icons to offer installation, iOS a 180 px touch icon; a "maskable" icon keeps the logo inside the central
80 % safe zone on a full-bleed background, since launchers crop it to their own shape
(https://www.w3.org/TR/appmanifest/#icon-masks).
"""

from __future__ import annotations

import io
from functools import lru_cache

from PIL import Image, ImageDraw

ACCENT = (0x8E, 0x24, 0x53)
BACKGROUND = (0xFB, 0xF9, 0xFC)
RING = (14.0, 14.0, 9.0, 4.0)          # centre x, centre y, radius, stroke width (logo units)
HANDLE = (20.5, 20.5, 27.5, 27.5, 4.0)  # from x, y, to x, y, stroke width
SIZES = (180, 192, 512)
SUPERSAMPLE = 4


@lru_cache(maxsize=len(SIZES) * 2)
def icon_png(size: int, maskable: bool = False) -> bytes:
    """:raise ValueError: for a size that is not offered."""
    if size not in SIZES:
        raise ValueError(f"no {size} px icon; sizes: {SIZES}")
    big = size * SUPERSAMPLE
    image = Image.new("RGBA", (big, big), (*BACKGROUND, 255) if maskable else (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    margin = 0.2 if maskable else 0.06  # of the side: maskable art stays in the central safe zone
    unit = big * (1 - 2 * margin) / 32
    offset = big * margin

    def at(value: float) -> float:
        return offset + value * unit

    cx, cy, radius, ring_width = RING
    outer = radius + ring_width / 2
    draw.ellipse([at(cx - outer), at(cy - outer), at(cx + outer), at(cy + outer)], fill=ACCENT)
    inner = radius - ring_width / 2
    draw.ellipse([at(cx - inner), at(cy - inner), at(cx + inner), at(cy + inner)],
                 fill=(*BACKGROUND, 255) if maskable else (0, 0, 0, 0))
    x0, y0, x1, y1, handle_width = HANDLE
    width = handle_width * unit
    draw.line([at(x0), at(y0), at(x1), at(y1)], fill=ACCENT, width=round(width))
    for x, y in ((x0, y0), (x1, y1)):  # round caps, as the SVG's stroke-linecap
        draw.ellipse([at(x) - width / 2, at(y) - width / 2, at(x) + width / 2, at(y) + width / 2], fill=ACCENT)
    buffer = io.BytesIO()
    image.resize((size, size), Image.Resampling.LANCZOS).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()
