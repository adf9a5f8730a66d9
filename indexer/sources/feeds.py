"""Shop-platform exports mapped onto our catalog rows: Google Merchant Center and Shopify.

Each reader yields ``(line, row)`` pairs in our own column names (``id``, ``title``, ``image``, ...),
so every format goes through the same validation in ``indexer.sources.catalog.parse_row``. The mapping is
documented in README ("Merchant feeds").
"""

from __future__ import annotations

import csv
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any, Iterator

from vision.looks import ProductType

GMC_NAMESPACE = "{http://base.google.com/ns/1.0}"
GMC_MAX_ADDITIONAL_IMAGES = 10  # Merchant Center's limit for additional_image_link
# the attributes Merchant Center lets variants of one item_group_id differ in, with the names shoppers read
GMC_VARIANT_ATTRIBUTES = (("color", "Color"), ("size", "Size"), ("material", "Material"), ("pattern", "Pattern"),
                          ("age_group", "Age group"), ("gender", "Gender"))
SHOPIFY_OPTIONS = 3
FORMATS = ("csv", "jsonl", "folder", "gmc", "shopify")
_PRICE = re.compile(r"^\s*([0-9][0-9.,]*)\s*([A-Za-z]{3})?\s*$")
_IN_STOCK = {"in stock", "in_stock", "instock", "available"}
_HEX = re.compile(r"^#[0-9A-Fa-f]{6}$")
_TYPE_WORDS = [(word, kind) for kind in ProductType for word in (kind.value.replace("_", " "), kind.value)] + [
    ("lip gloss", ProductType.LIPSTICK), ("lip stick", ProductType.LIPSTICK), ("eye shadow", ProductType.EYESHADOW),
    ("eye liner", ProductType.EYELINER), ("brow", ProductType.BROW), ("bronzer", ProductType.BLUSH)]

Rows = Iterator[tuple[int, dict[str, Any]]]


class FeedError(ValueError):
    """The feed as a whole cannot be read (not XML, no header, unknown layout)."""


def detect_format(path: Path) -> str:
    """Guess the catalog format from the file name and its first bytes."""
    if path.is_dir():
        return "folder"
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    head = path.read_bytes()[:4096].decode("utf-8-sig", errors="replace")
    if suffix == ".xml" or head.lstrip().startswith(("<?xml", "<rss", "<feed")):
        return "gmc"
    first_line = head.splitlines()[0].lower() if head.strip() else ""
    if "handle" in first_line and "image src" in first_line:
        return "shopify"
    if "image_link" in first_line:
        return "gmc"
    return "csv"


def gmc_rows(path: Path) -> Rows:
    """Google Merchant Center feed, tab-separated or RSS 2.0 / Atom XML."""
    text_start = path.read_bytes()[:512].decode("utf-8-sig", errors="replace").lstrip()
    records = _gmc_xml(path) if text_start.startswith("<") else _gmc_tsv(path)
    for line, record in records:
        yield line, gmc_to_row(record)


def gmc_to_row(record: dict[str, Any]) -> dict[str, Any]:
    price, currency = parse_money(record.get("sale_price") or record.get("price", ""))
    category = record.get("product_type") or record.get("google_product_category", "")
    return {
        "id": record.get("id", ""),
        "title": record.get("title", ""),
        "image": record.get("image_link", ""),
        "additional_images": _additional_images(record.get("additional_image_link", "")),
        "url": record.get("link", ""),
        "price": price,
        "currency": currency,
        "in_stock": "true" if record.get("availability", "in stock").strip().lower() in _IN_STOCK else "false",
        "brand": record.get("brand", ""),
        "category": category.split(">")[-1].strip(),
        "product_type": guess_product_type(category),
        "shade_hex": record.get("color", "") if record.get("color", "").startswith("#") else "",
        "group": record.get("item_group_id", ""),
        "options": {label: record[name].strip() for name, label in GMC_VARIANT_ATTRIBUTES
                    if record.get("item_group_id") and str(record.get(name, "")).strip()},
    }


def _additional_images(value: str | list[str]) -> list[str]:
    """Merchant Center's extra images: repeated XML elements, or comma-separated URLs in a TSV cell."""
    links = value if isinstance(value, list) else value.split(",")
    return [link.strip() for link in links if link.strip()][:GMC_MAX_ADDITIONAL_IMAGES]


def shopify_rows(path: Path) -> Rows:
    """Shopify products export: a Handle's first row names the product, later rows add variants and photos.

    A handle with one variant is one product (its id the handle). With several, each variant is a product of
    the group ``handle``: its id ``handle--<option values>``, its own price, stock (inventory quantity above
    zero; no inventory column: in stock) and image (its Variant Image, else the product's first photo). The
    product's other photos go to its first variant, so the group is searched by every photo once.
    """
    handles: dict[str, dict[str, Any]] = {}
    for line, row in csv_records(path):
        handle = row.get("handle", "").strip()
        if not handle:
            yield line, {"id": "", "title": row.get("title", ""), "image": row.get("image src", "")}
            continue
        product = handles.get(handle)
        if product is None:
            product = handles[handle] = {
                "line": line, "title": row.get("title", ""), "vendor": row.get("vendor", ""),
                "type": row.get("type", ""), "tags": row.get("tags", ""), "photos": [],
                "option_names": [row.get(f"option{n} name", "").strip() for n in range(1, SHOPIFY_OPTIONS + 1)],
                "first_row": row, "variants": []}
        photo = row.get("image src", "").strip()
        if photo and photo not in product["photos"]:
            product["photos"].append(photo)
        if any(row.get(column, "").strip() for column in ("option1 value", "variant price", "variant sku")):
            product["variants"].append((line, row))
    for handle, product in handles.items():
        yield from _shopify_variants(handle, product)


def _shopify_variants(handle: str, product: dict[str, Any]) -> Rows:
    photos = product["photos"]
    variants = product["variants"] or [(product["line"], product["first_row"])]
    grouped = len(variants) > 1
    slugs: set[str] = set()
    for number, (line, row) in enumerate(variants):
        options = {name: row.get(f"option{n} value", "").strip()
                   for n, name in enumerate(product["option_names"], start=1)
                   if name and name.lower() != "title" and row.get(f"option{n} value", "").strip()}
        image = row.get("variant image", "").strip() or (photos[0] if photos else "")
        variant_photos = [photo for photo in photos if photo != image] if number == 0 else []
        slug = _slug(" ".join(options.values())) or str(number + 1)
        if slug in slugs:
            slug = f"{slug}-{number + 1}"
        slugs.add(slug)
        quantity = row.get("variant inventory qty", "").strip()
        yield line, {
            "id": f"{handle}--{slug}" if grouped else handle,
            "title": product["title"], "image": image, "additional_images": variant_photos,
            "brand": product["vendor"], "category": product["type"],
            "price": row.get("variant price", ""), "currency": "",
            "in_stock": "true" if not quantity or _as_number(quantity) > 0 else "false",
            "product_type": guess_product_type(" ".join([product["type"], product["tags"]])),
            "shade_hex": next((value for value in options.values() if _HEX.match(value)), ""),
            "group": handle if grouped else "",
            "options": options if grouped else {},
        }


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def parse_money(text: str) -> tuple[str, str]:
    """``"12.99 EUR"`` -> ``("12.99", "EUR")``; the amount stays text for the row validator."""
    match = _PRICE.match(text or "")
    if not match:
        return (text or "").strip(), ""
    amount = match.group(1)
    if "," in amount and "." not in amount:
        amount = amount.replace(",", ".")
    return amount.replace(",", ""), (match.group(2) or "").upper()


def guess_product_type(text: str) -> str:
    """A makeup type named in a category path or tag list ("Beauty > Makeup > Lipstick" -> lipstick)."""
    lowered = (text or "").lower()
    for word, kind in sorted(_TYPE_WORDS, key=lambda item: -len(item[0])):
        if word in lowered:
            return kind.value
    return ""


def _gmc_tsv(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    yield from csv_records(path, delimiter="\t")


def _gmc_xml(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as exc:
        raise FeedError(f"{path} is not valid XML: {exc}") from exc
    items = root.iter("item") if root.find(".//item") is not None else root.iter("{http://www.w3.org/2005/Atom}entry")
    for number, item in enumerate(items, start=1):
        record: dict[str, Any] = {"additional_image_link": []}
        for child in item:
            name = child.tag.replace(GMC_NAMESPACE, "").split("}")[-1]
            if name == "additional_image_link":  # repeated, one element per image
                record[name].append((child.text or "").strip())
            elif name not in record:
                record[name] = (child.text or "").strip()
        record.setdefault("id", record.get("guid", ""))
        yield number, record


def csv_records(path: Path, delimiter: str = ",") -> Iterator[tuple[int, dict[str, str]]]:
    """Rows with lower-case column names and the file line each starts on (quoted newlines counted).

    :raise FeedError: for a file without a header, or malformed CSV (naming the line).
    """
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        try:
            if not reader.fieldnames:
                raise FeedError(f"{path} is empty: expected a header row.")
            reader.fieldnames = [name.strip().lower() for name in reader.fieldnames]
            line = 1
            for row in reader:
                yield line + 1, {key: (value or "") for key, value in row.items() if isinstance(key, str)}
                line = reader.line_num
        except (csv.Error, UnicodeDecodeError) as exc:
            raise FeedError(f"{path} line {reader.line_num}: {exc}") from exc


def _as_number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0
