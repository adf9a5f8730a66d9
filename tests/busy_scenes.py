"""Busy scenes for shop-the-look checks (the tests and ``bench/shop_the_look.py``): catalog product shots
pasted at different sizes and places onto cluttered backgrounds, with the truth of where each one went.

Product shots are studio-style: one patterned object on a light backdrop, each product its own colours,
pattern and shape. Clutter is what a street or shelf photo adds: texture, noise, lines and objects that
are not in the catalog.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SHOT = 256
PATTERNS = ("solid", "stripes", "checks", "dots", "gradient")
SHAPES = ("rectangle", "ellipse", "dress", "bag")


@dataclass(frozen=True)
class PastedItem:
    product: int
    box: tuple[int, int, int, int]  # x, y, width, height in scene pixels


@dataclass(frozen=True)
class Scene:
    image: Image.Image
    items: tuple[PastedItem, ...]


def product_shot(index: int) -> Image.Image:
    """Product ``index``'s packshot, the same every time."""
    rng = np.random.default_rng(1000 + index)
    backdrop = tuple(int(v) for v in rng.integers(225, 256, 3))
    image = Image.new("RGB", (SHOT, SHOT), backdrop)
    colours = [tuple(int(v) for v in rng.integers(0, 256, 3)) for _ in range(2)]
    pattern = _pattern(PATTERNS[index % len(PATTERNS)], colours, rng)
    mask = Image.new("L", (SHOT, SHOT), 0)
    _shape(ImageDraw.Draw(mask), SHAPES[(index // len(PATTERNS)) % len(SHAPES)], rng)
    image.paste(pattern, (0, 0), mask)
    return image


def scene(seed: int, products: int, size: tuple[int, int] = (640, 480)) -> Scene:
    """2-4 of the first ``products`` shots, pasted without overlap onto clutter."""
    rng = np.random.default_rng(seed)
    image = clutter(size, rng)
    width, height = size
    placed: list[PastedItem] = []
    chosen = rng.choice(products, size=int(rng.integers(2, 5)), replace=False)
    for product in chosen:
        for _ in range(50):
            side = int(rng.uniform(0.22, 0.42) * min(size))
            aspect = rng.uniform(0.8, 1.25)
            w, h = int(side * aspect), side
            x, y = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
            if all(_apart((x, y, w, h), item.box) for item in placed):
                image.paste(product_shot(int(product)).resize((w, h), Image.BILINEAR), (x, y))
                placed.append(PastedItem(int(product), (x, y, w, h)))
                break
    return Scene(image, tuple(placed))


def scored_scene(shot: Scene, items: Sequence[tuple[Sequence[float], Sequence[int]]], top: int = 5) -> tuple[int, int]:
    """(pasted products found, false items) for ``items`` given as (x, y, w, h box, product ids best first).

    Found: some item's box overlaps the product's with IoU >= 0.5 and its top ``top`` holds the product.
    """
    def matches(item, pasted: PastedItem) -> bool:
        box, products = item
        return iou(box, pasted.box) >= 0.5 and pasted.product in list(products)[:top]

    found = sum(any(matches(item, pasted) for item in items) for pasted in shot.items)
    false = sum(not any(matches(item, pasted) for pasted in shot.items) for item in items)
    return found, false


def iou(box: Sequence[float], other: Sequence[float]) -> float:
    x, y, w, h = box
    ox, oy, ow, oh = other
    overlap = max(0.0, min(x + w, ox + ow) - max(x, ox)) * max(0.0, min(y + h, oy + oh) - max(y, oy))
    union = w * h + ow * oh - overlap
    return overlap / union if union > 0 else 0.0


def clutter(size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """A noisy textured background with lines and blobs that belong to no product."""
    width, height = size
    base = rng.integers(60, 200, 3)
    ramp = np.linspace(0, 1, width)[None, :, None] * rng.integers(-60, 60, 3)
    noise = rng.normal(0, 18, (height, width, 3))
    pixels = np.clip(base + ramp + noise, 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(6, 14))):
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        x1, y1 = x0 + int(rng.integers(10, width // 4)), y0 + int(rng.integers(10, height // 4))
        kind = rng.integers(0, 3)
        if kind == 0:
            draw.line((x0, y0, x1, y1), fill=colour, width=int(rng.integers(2, 8)))
        elif kind == 1:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        else:
            draw.polygon([(x0, y1), ((x0 + x1) // 2, y0), (x1, y1)], fill=colour)
    return image.filter(ImageFilter.GaussianBlur(0.6))


def _pattern(kind: str, colours: list[tuple[int, int, int]], rng: np.random.Generator) -> Image.Image:
    image = Image.new("RGB", (SHOT, SHOT), colours[0])
    draw = ImageDraw.Draw(image)
    step = int(rng.integers(12, 32))
    if kind == "stripes":
        for x in range(0, SHOT, step):
            draw.rectangle((x, 0, x + step // 2, SHOT), fill=colours[1])
    elif kind == "checks":
        for x in range(0, SHOT, step):
            for y in range((x // step % 2) * step, SHOT, 2 * step):
                draw.rectangle((x, y, x + step, y + step), fill=colours[1])
    elif kind == "dots":
        for x in range(step // 2, SHOT, step):
            for y in range(step // 2, SHOT, step):
                draw.ellipse((x - step // 4, y - step // 4, x + step // 4, y + step // 4), fill=colours[1])
    elif kind == "gradient":
        ramp = np.linspace(0, 1, SHOT)[:, None, None]
        pixels = (1 - ramp) * np.array(colours[0]) + ramp * np.array(colours[1])
        image = Image.fromarray(np.broadcast_to(pixels, (SHOT, SHOT, 3)).astype(np.uint8))
    return image


def _shape(draw: ImageDraw.ImageDraw, kind: str, rng: np.random.Generator) -> None:
    margin = int(rng.integers(20, 40))
    low, high = margin, SHOT - margin
    if kind == "rectangle":
        draw.rectangle((low, low + 10, high, high - 10), fill=255)
    elif kind == "ellipse":
        draw.ellipse((low, low, high, high), fill=255)
    elif kind == "dress":
        draw.polygon([(SHOT // 2 - 30, low), (SHOT // 2 + 30, low), (high, high), (low, high)], fill=255)
    else:
        draw.rectangle((low, SHOT // 2 - 20, high, high), fill=255)
        draw.arc((SHOT // 2 - 50, low, SHOT // 2 + 50, SHOT // 2 + 30), 180, 360, fill=255, width=10)


def _apart(box: tuple[int, int, int, int], other: tuple[int, int, int, int]) -> bool:
    x, y, w, h = box
    ox, oy, ow, oh = other
    return x + w <= ox or ox + ow <= x or y + h <= oy or oy + oh <= y
