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
FORMATS = ("csv", "jsonl", "folder", "gmc", "shopify")
_PRICE = re.compile(r"^\s*([0-9][0-9.,]*)\s*([A-Za-z]{3})?\s*$")
_IN_STOCK = {"in stock", "in_stock", "instock", "available"}
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
    }


def _additional_images(value: str | list[str]) -> list[str]:
    """Merchant Center's extra images: repeated XML elements, or comma-separated URLs in a TSV cell."""
    links = value if isinstance(value, list) else value.split(",")
    return [link.strip() for link in links if link.strip()][:GMC_MAX_ADDITIONAL_IMAGES]


def shopify_rows(path: Path) -> Rows:
    """Shopify products export: one product per Handle, its variants and extra images on later rows."""
    products: dict[str, dict[str, Any]] = {}
    first_line: dict[str, int] = {}
    for line, row in csv_records(path):
        handle = row.get("handle", "").strip()
        if not handle:
            yield line, {"id": "", "title": row.get("title", ""), "image": row.get("image src", "")}
            continue
        product = products.get(handle)
        if product is None:
            first_line[handle] = line
            product = products[handle] = {
                "id": handle, "title": row.get("title", ""), "image": row.get("image src", ""),
                "brand": row.get("vendor", ""), "category": row.get("type", ""),
                "price": row.get("variant price", ""), "currency": "", "in_stock": "false",
                "product_type": guess_product_type(" ".join([row.get("type", ""), row.get("tags", "")])),
                "additional_images": [], "_stock_known": False,
            }
        product["image"] = product["image"] or row.get("image src", "")
        for column in ("image src", "variant image"):  # every photo of the handle, the first is the main one
            link = row.get(column, "").strip()
            if link and link != product["image"] and link not in product["additional_images"]:
                product["additional_images"].append(link)
        product["price"] = product["price"] or row.get("variant price", "")
        quantity = row.get("variant inventory qty", "").strip()
        if quantity:
            product["_stock_known"] = True
            if _as_number(quantity) > 0:
                product["in_stock"] = "true"
    for handle, product in products.items():
        if not product.pop("_stock_known"):
            product["in_stock"] = "true"  # exports without inventory columns: assume sellable
        yield first_line[handle], product


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
