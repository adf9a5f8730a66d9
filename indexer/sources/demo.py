"""A built-in demo makeup catalog whose product shots are rendered here, so `make run` needs no data.

Shade names, hex colours and finishes are realistic; the pictures are simple studio-style renders
(a lipstick bullet, an eyeshadow pan, a foundation bottle...) drawn with Pillow, deterministic.
"""

from __future__ import annotations

import csv
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

SIZE = 512
BRAND = "Lumen Beauty"
# (id, title, product_type, shade_hex, finish, price)
PRODUCTS = [
    ("lip-ruby-matte", "Velvet Lipstick — Ruby", "lipstick", "#9B1B30", "matte", 24.0),
    ("lip-classic-red", "Satin Lipstick — Classic Red", "lipstick", "#C41E3A", "satin", 24.0),
    ("lip-coral-crush", "Satin Lipstick — Coral Crush", "lipstick", "#F0643C", "satin", 22.0),
    ("lip-nude-rose", "Velvet Lipstick — Nude Rose", "lipstick", "#C08081", "matte", 22.0),
    ("lip-mauve", "Velvet Lipstick — Mauve Mood", "lipstick", "#915F6D", "matte", 22.0),
    ("lip-berry", "Satin Lipstick — Berry Kiss", "lipstick", "#7B2D43", "satin", 24.0),
    ("lip-plum-night", "Velvet Lipstick — Plum Night", "lipstick", "#5C2340", "matte", 24.0),
    ("lip-pink-pop", "Gloss — Pink Pop", "lipstick", "#E75480", "gloss", 19.0),
    ("lip-peach-gloss", "Gloss — Peach Glaze", "lipstick", "#F4A384", "gloss", 19.0),
    ("lip-cherry-gloss", "Gloss — Cherry Glass", "lipstick", "#D2042D", "gloss", 19.0),
    ("lip-bronze-metal", "Metallic Lipstick — Bronze", "lipstick", "#8C5A3C", "metallic", 26.0),
    ("lip-rose-gold", "Metallic Lipstick — Rose Gold", "lipstick", "#B76E79", "metallic", 26.0),
    ("liner-spice", "Lip Liner — Spice", "lip_liner", "#8E4B3A", "matte", 14.0),
    ("liner-rosewood", "Lip Liner — Rosewood", "lip_liner", "#65000B", "matte", 14.0),
    ("liner-nude", "Lip Liner — Bare", "lip_liner", "#B07A6A", "matte", 14.0),
    ("shadow-champagne", "Eyeshadow — Champagne", "eyeshadow", "#E8CFA6", "shimmer", 16.0),
    ("shadow-taupe", "Eyeshadow — Taupe", "eyeshadow", "#8B7D6B", "matte", 16.0),
    ("shadow-copper", "Eyeshadow — Copper", "eyeshadow", "#B87333", "metallic", 18.0),
    ("shadow-navy", "Eyeshadow — Midnight", "eyeshadow", "#26305A", "shimmer", 18.0),
    ("shadow-emerald", "Eyeshadow — Emerald", "eyeshadow", "#1F6B4E", "shimmer", 18.0),
    ("shadow-plum", "Eyeshadow — Plum Smoke", "eyeshadow", "#5E3A5A", "matte", 16.0),
    ("liner-jet", "Liquid Eyeliner — Jet Black", "eyeliner", "#111111", "matte", 17.0),
    ("liner-espresso", "Liquid Eyeliner — Espresso", "eyeliner", "#3B2A20", "matte", 17.0),
    ("blush-petal", "Blush — Petal", "blush", "#F1A7B5", "matte", 20.0),
    ("blush-apricot", "Blush — Apricot", "blush", "#F2A073", "satin", 20.0),
    ("blush-berry", "Blush — Berry Flush", "blush", "#B5485D", "matte", 20.0),
    ("blush-terracotta", "Blush — Terracotta", "blush", "#C0674F", "shimmer", 22.0),
    ("blush-plum", "Blush — Deep Plum", "blush", "#8A3E58", "satin", 22.0),
    ("found-porcelain", "Skin Foundation — 110 Porcelain", "foundation", "#F3DCCB", "satin", 34.0),
    ("found-ivory", "Skin Foundation — 120 Ivory", "foundation", "#EACBA9", "satin", 34.0),
    ("found-sand", "Skin Foundation — 220 Sand", "foundation", "#D9B38C", "satin", 34.0),
    ("found-honey", "Skin Foundation — 330 Honey", "foundation", "#C48E5F", "satin", 34.0),
    ("found-caramel", "Skin Foundation — 420 Caramel", "foundation", "#A9714A", "satin", 34.0),
    ("found-chestnut", "Skin Foundation — 520 Chestnut", "foundation", "#845333", "satin", 34.0),
    ("found-espresso", "Skin Foundation — 610 Espresso", "foundation", "#5C3A26", "satin", 34.0),
    ("found-ebony", "Skin Foundation — 640 Ebony", "foundation", "#3F271B", "satin", 34.0),
    ("conceal-light", "Concealer — Light Neutral", "concealer", "#EDCFB4", "matte", 21.0),
    ("conceal-deep", "Concealer — Deep Warm", "concealer", "#7A4B2E", "matte", 21.0),
    ("brow-taupe", "Brow Pencil — Taupe", "brow", "#7A6555", "matte", 15.0),
    ("brow-dark", "Brow Pencil — Dark Brown", "brow", "#3D2B1F", "matte", 15.0),
]
COLUMNS = ["id", "title", "image", "category", "brand", "price", "currency", "url", "in_stock",
           "product_type", "shade_hex", "finish", "group", "options"]
SOLD_IN_SHADES = ("lipstick",)  # these lines are one product each, their shades its variants (README "Variants")


def write_demo_catalog(folder: Path) -> Path:
    """Render the demo catalog into ``folder`` (once; existing images are kept) and return its CSV."""
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    path = folder / "catalog.csv"
    rows = []
    for index, (product_id, title, product_type, shade, finish, price) in enumerate(PRODUCTS):
        image = images / f"{product_id}.jpg"
        if not image.exists():
            render_product(product_type, shade, finish).save(image, quality=90)
        rows.append({"id": product_id, "title": title, "image": f"images/{product_id}.jpg",
                     "category": product_type.replace("_", " "), "brand": BRAND, "price": f"{price:.2f}",
                     "currency": "EUR", "url": f"https://shop.example/products/{product_id}",
                     "in_stock": "false" if index % 9 == 8 else "true", "product_type": product_type,
                     "shade_hex": shade, "finish": finish, **_line(title, product_type)})
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _line(title: str, product_type: str) -> dict[str, str]:
    """"Velvet Lipstick — Ruby" -> the group velvet-lipstick, its option Shade=Ruby."""
    line, _, shade = title.partition(" — ")
    if product_type not in SOLD_IN_SHADES:
        return {"group": "", "options": ""}
    return {"group": line.lower().replace(" ", "-"), "options": f"Shade={shade}"}


def render_product(product_type: str, shade: str, finish: str) -> Image.Image:
    """A product shot on a soft studio background."""
    colour = tuple(int(shade[i:i + 2], 16) for i in (1, 3, 5))
    canvas = Image.new("RGB", (SIZE, SIZE), (246, 242, 240))
    draw = ImageDraw.Draw(canvas)
    draw.ellipse((90, 430, 422, 470), fill=(225, 219, 216))  # shadow
    painter = {"lipstick": _lipstick, "lip_liner": _pencil, "brow": _pencil, "eyeliner": _pen,
               "eyeshadow": _pan, "blush": _compact, "foundation": _bottle, "concealer": _wand}[product_type]
    painter(draw, colour)
    if finish in ("gloss", "satin"):
        _shine(canvas, strength=90 if finish == "gloss" else 45)
    if finish in ("shimmer", "metallic"):
        _sparkle(draw, colour, dense=finish == "shimmer")
    return canvas.filter(ImageFilter.SMOOTH)


def _shade(colour, factor: float):
    return tuple(max(0, min(255, int(c * factor))) for c in colour)


def _lipstick(draw, colour):
    draw.rounded_rectangle((196, 250, 316, 450), 10, fill=(32, 30, 34))
    draw.rectangle((206, 220, 306, 260), fill=(196, 164, 92))
    draw.polygon([(216, 220), (296, 220), (296, 120), (216, 160)], fill=colour)
    draw.polygon([(216, 160), (296, 120), (296, 135), (216, 172)], fill=_shade(colour, 1.25))


def _pencil(draw, colour):
    draw.polygon([(150, 400), (380, 170), (400, 190), (170, 420)], fill=(60, 48, 44))
    draw.polygon([(380, 170), (430, 120), (400, 190)], fill=(226, 196, 160))
    draw.polygon([(415, 135), (430, 120), (422, 150)], fill=colour)
    draw.line((160, 410, 390, 180), fill=colour, width=6)


def _pen(draw, colour):
    draw.rounded_rectangle((236, 90, 276, 440), 16, fill=(24, 24, 28))
    draw.polygon([(242, 90), (270, 90), (256, 50)], fill=colour)
    draw.rectangle((236, 300, 276, 310), fill=(180, 180, 190))


def _pan(draw, colour):
    draw.rounded_rectangle((126, 126, 386, 386), 28, fill=(40, 38, 42))
    draw.ellipse((156, 156, 356, 356), fill=(190, 186, 190))
    draw.ellipse((166, 166, 346, 346), fill=colour)


def _compact(draw, colour):
    draw.ellipse((106, 106, 406, 406), fill=(210, 190, 170))
    draw.ellipse((136, 136, 376, 376), fill=colour)
    draw.arc((156, 156, 356, 356), 200, 340, fill=_shade(colour, 0.8), width=6)


def _bottle(draw, colour):
    draw.rounded_rectangle((176, 170, 336, 440), 24, fill=colour)
    draw.rounded_rectangle((186, 180, 206, 420), 8, fill=_shade(colour, 1.15))
    draw.rectangle((226, 110, 286, 170), fill=(30, 30, 30))
    draw.rectangle((196, 300, 316, 350), fill=(250, 250, 250))


def _wand(draw, colour):
    draw.rounded_rectangle((216, 200, 296, 440), 30, fill=colour)
    draw.rounded_rectangle((226, 100, 286, 210), 20, fill=(235, 230, 226))


def _shine(canvas: Image.Image, strength: int):
    overlay = Image.new("L", canvas.size, 0)
    ImageDraw.Draw(overlay).ellipse((230, 130, 270, 330), fill=strength)
    white = Image.new("RGB", canvas.size, (255, 255, 255))
    canvas.paste(white, (0, 0), overlay.filter(ImageFilter.GaussianBlur(12)))


def _sparkle(draw, colour, dense: bool):
    step = 11 if dense else 17
    for i in range(0, 200, 1):
        x = 170 + (i * 37) % 170
        y = 170 + (i * step * 7) % 170
        if (i * 13) % 5 == 0:
            draw.point((x, y), fill=_shade(colour, 1.8))
