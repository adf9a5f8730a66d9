"""Read a merchant's catalog (CSV, JSONL or a folder of images) into validated ``Product`` records.

A bad row is skipped with its line number and reason, and the run goes on: one typo must not keep a
shop's whole catalog out of search. Duplicate ids are the exception: which row is meant cannot be
guessed, so they stop the run.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

from indexer.records import Product, SkippedRow
from indexer.sources import feeds
from indexer.values import parse_yes_no
from vision.color import parse_hex, to_hex
from vision.looks import Finish, ProductType

MAX_EXTRA_IMAGES = 20  # Merchant Center allows 10; beyond 20 views of one product a search learns nothing new
MAX_OPTIONS = 10  # Shopify has 3 options per product, Merchant Center ~6 variant attributes
MAX_OPTION_CHARS = 200
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
# availability words some exports write instead of yes/no
_AVAILABILITY = {"in stock": True, "in_stock": True, "out of stock": False, "out_of_stock": False}


class CatalogError(ValueError):
    """The catalog as a whole cannot be used (unreadable file, duplicate ids, unknown format)."""


class RowError(ValueError):
    """One row is invalid; ``reason`` is a stable short code for the run summary."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass
class Catalog:
    products: list[Product]
    skipped: list[SkippedRow] = field(default_factory=list)
    source: str = ""
    checksum: str = ""


def read_catalog(path: str | os.PathLike, *, allow_outside_images: bool = False, fmt: str = "") -> Catalog:
    """Parse ``path`` (our CSV/JSONL, an image folder, a Merchant Center or Shopify export) into
    products plus a skipped-row report. ``fmt`` forces a format; empty detects it.

    :raise CatalogError: when the catalog cannot be read at all or has duplicate ids.
    """
    source = Path(path)
    if not source.exists():
        raise CatalogError(f"Catalog {source} does not exist (--catalog / SHOPLENS_CATALOG).")
    fmt = fmt or feeds.detect_format(source)
    base = source if source.is_dir() else source.parent
    if fmt == "csv" and source.suffix.lower() not in (".csv", ".tsv", ".txt"):
        raise CatalogError(f"{source}: unknown catalog format {source.suffix!r}; use .csv, .jsonl, a folder, "
                           "a Merchant Center feed or a Shopify export (--format).")
    readers = {"csv": feeds.csv_records, "jsonl": _jsonl_rows, "folder": _folder_rows, "gmc": feeds.gmc_rows,
               "shopify": feeds.shopify_rows}
    if fmt not in readers:
        raise CatalogError(f"Unknown catalog format {fmt!r}. Available: {', '.join(readers)}.")
    rows = readers[fmt](source)
    catalog = Catalog(products=[], source=str(source), checksum=_checksum(source))
    first_line: dict[str, int] = {}
    duplicates: list[str] = []
    try:
        parsed = list(rows)
    except (feeds.FeedError, OSError, UnicodeDecodeError) as exc:
        raise CatalogError(str(exc)) from exc
    for line, row in parsed:
        try:
            product = parse_row(row, line, base, allow_outside_images=allow_outside_images,
                                skipped_images=catalog.skipped)
        except RowError as exc:
            catalog.skipped.append(SkippedRow(line, exc.reason, str(exc), str(row.get("id") or "").strip()))
            continue
        if product.id in first_line:
            duplicates.append(f"id {product.id!r} on lines {first_line[product.id]} and {line}")
            continue
        first_line[product.id] = line
        catalog.products.append(product)
    if duplicates:
        shown = "; ".join(duplicates[:10]) + (f"; and {len(duplicates) - 10} more" if len(duplicates) > 10 else "")
        raise CatalogError(f"{source}: duplicate product ids: {shown}.")
    catalog.products = variants_together(catalog.products)
    return catalog


def variants_together(products: list[Product]) -> list[Product]:
    """The products with each group's variants next to each other, groups where their first variant was.

    A version stores a group as consecutive rows (``indexer.stores.product_table``); a feed may list a group's
    variants anywhere (Merchant Center does not sort by item_group_id).
    """
    keys = [product.group or f"\x00{position}" for position, product in enumerate(products)]  # alone: its own
    first: dict[str, int] = {}
    for position, key in enumerate(keys):
        first.setdefault(key, position)
    return [products[position] for position in sorted(range(len(products)),
                                                       key=lambda position: (first[keys[position]], position))]


def parse_row(row: dict[str, Any], line: int, base: Path, *, allow_outside_images: bool = False,
              skipped_images: list[SkippedRow] | None = None) -> Product:
    """Validate one raw row; a bad extra image is left out and reported in ``skipped_images``, the product kept.

    :raise RowError: with a reason code and a message a merchandiser can act on.
    """
    if "__invalid__" in row:
        raise RowError("bad_json", f"line {line}: {row['__invalid__']}")
    text = {key: _text(value) for key, value in row.items() if isinstance(key, str)}
    for required in ("id", "title", "image"):
        if not text.get(required):
            raise RowError(f"missing_{required}", f"line {line}: the {required!r} column is empty or missing")
    image = str(_image_path(text["image"], base, line, allow_outside_images))
    left_out = skipped_images if skipped_images is not None else []
    extras: list[str] = []
    for value in _image_list(row.get("additional_images")):
        try:
            extra = str(_image_path(value, base, line, allow_outside_images))
        except RowError as exc:
            left_out.append(SkippedRow(line, exc.reason, f"{exc}; the product is kept without it", text["id"], value))
            continue
        if extra == image or extra in extras:
            continue
        if len(extras) == MAX_EXTRA_IMAGES:
            left_out.append(SkippedRow(line, "too_many_images", f"line {line}: image {value!r}: more than "
                                       f"{MAX_EXTRA_IMAGES} extra images; the rest are left out", text["id"], value))
            continue
        extras.append(extra)
    return Product(
        id=text["id"],
        title=text["title"],
        image=image,
        line=line,
        category=text.get("category", ""),
        brand=text.get("brand", ""),
        price=_price(text.get("price", ""), line),
        currency=text.get("currency", "").upper(),
        url=text.get("url", ""),
        in_stock=_in_stock(text.get("in_stock", ""), line),
        product_type=_choice(ProductType, text.get("product_type", ""), "product_type", line),
        shade_hex=_shade(text.get("shade_hex", ""), line),
        finish=_choice(Finish, text.get("finish", ""), "finish", line),
        images=tuple(extras),
        group=text.get("group") or text.get("item_group_id", ""),
        options=_options(row.get("options"), line),
    )


def _options(value: Any, line: int) -> tuple[tuple[str, str], ...]:
    """A variant's option values: a JSON object (JSONL) or ``Color=Red|Size=M`` (CSV), in the shop's order.

    :raise RowError: bad_options, naming what to write instead.
    """
    if value is None or value == "":
        return ()
    if isinstance(value, dict):
        pairs = list(value.items())
    elif isinstance(value, str):
        pairs = [part.partition("=")[::2] if "=" in part else (part, None) for part in value.split("|") if part.strip()]
    else:
        raise RowError("bad_options", f"line {line}: options must be an object such as {{\"Color\": \"Red\"}}")
    options: list[tuple[str, str]] = []
    for name, option in pairs:
        name, option = _text(name), _text(option) if not isinstance(option, (dict, list)) else ""
        if not name or not option:
            raise RowError("bad_options", f"line {line}: option {name or option!r} needs a name and a value, "
                                          "e.g. Color=Red|Size=M")
        if len(name) > MAX_OPTION_CHARS or len(option) > MAX_OPTION_CHARS:
            raise RowError("bad_options", f"line {line}: an option is longer than {MAX_OPTION_CHARS} characters")
        if name.lower() in (known.lower() for known, _ in options):
            raise RowError("bad_options", f"line {line}: option {name!r} is given twice")
        options.append((name, option))
    if len(options) > MAX_OPTIONS:
        raise RowError("bad_options", f"line {line}: {len(options)} options; at most {MAX_OPTIONS}")
    return tuple(options)


def _image_list(value: Any) -> list[str]:
    """Extra images: a JSON list (JSONL), or one text of paths/URLs separated by ``|`` (CSV)."""
    if value is None:
        return []
    items = value if isinstance(value, (list, tuple)) else str(value).split("|")
    return [text for text in (_text(item) for item in items) if text]


def _image_path(value: str, base: Path, line: int, allow_outside: bool) -> Path | str:
    """A checked local file, or an http(s) URL that the fetcher downloads before embedding."""
    scheme = urlsplit(value).scheme.lower()
    if scheme in ("http", "https"):
        return value
    if len(scheme) > 1:  # file:, ftp:, data:, gopher: ... (one letter is a Windows drive)
        raise RowError("image_url_scheme", f"line {line}: image URL scheme {scheme!r} is not allowed; use https")
    candidate = Path(value).expanduser()
    resolved = (candidate if candidate.is_absolute() else base / candidate).resolve()
    if not allow_outside and not resolved.is_relative_to(base.resolve()):
        raise RowError("image_outside_catalog",
                       f"line {line}: image {value!r} points outside the catalog folder "
                       "(use --allow-outside-images to permit it)")
    if not resolved.is_file():
        raise RowError("image_missing", f"line {line}: image file {value!r} does not exist")
    if not os.access(resolved, os.R_OK):
        raise RowError("image_unreadable", f"line {line}: image file {value!r} cannot be read")
    return resolved


def _price(value: str, line: int) -> float | None:
    if not value:
        return None
    try:
        price = float(value)
    except ValueError:
        raise RowError("bad_price", f"line {line}: price {value!r} is not a number") from None
    if not math.isfinite(price) or price < 0:
        raise RowError("bad_price", f"line {line}: price {value!r} must be a non-negative number")
    return round(price, 4)


def _in_stock(value: str, line: int) -> bool:
    """Blank means in stock: most catalogs only mark what has sold out."""
    if value.lower() in _AVAILABILITY:
        return _AVAILABILITY[value.lower()]
    try:
        answer = parse_yes_no(value)
    except ValueError:
        raise RowError("bad_in_stock", f"line {line}: in_stock {value!r} must be true/false") from None
    return True if answer is None else answer


def _shade(value: str, line: int) -> str:
    if not value:
        return ""
    try:
        return to_hex(parse_hex(value))
    except ValueError:
        raise RowError("bad_shade_hex", f"line {line}: shade_hex {value!r} must look like #RRGGBB") from None


def _choice(enum: type[StrEnum], value: str, column: str, line: int):
    if not value:
        return None
    try:
        return enum(value.lower().replace(" ", "_").replace("-", "_"))
    except ValueError:
        choices = ", ".join(member.value for member in enum)
        raise RowError(f"unknown_{column}", f"line {line}: {column} {value!r} is not one of {choices}") from None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        handle = open(path, encoding="utf-8-sig")
    except OSError as exc:
        raise CatalogError(f"Cannot read {path}: {exc}") from exc
    with handle:
        for line, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
            except json.JSONDecodeError as exc:
                yield line, {"__invalid__": f"not valid JSON ({exc.msg})"}
                continue
            yield line, row if isinstance(row, dict) else {"__invalid__": "not a JSON object"}


def _folder_rows(folder: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Every image is a product, except the images inside a folder named like an image beside it
    (``dress.jpg`` + ``dress/``): those are that product's other photos."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    by_stem = {(image.parent, image.stem): image for image in files}
    extras: dict[Path, list[str]] = {}
    products = []
    for image in files:
        owner = by_stem.get((image.parent.parent, image.parent.name)) if image.parent != folder else None
        if owner is None:
            products.append(image)
        else:
            extras.setdefault(owner, []).append(image.relative_to(folder).as_posix())
    for number, image in enumerate(products, start=1):
        relative = image.relative_to(folder).as_posix()
        yield number, {"id": relative, "title": image.stem.replace("_", " ").replace("-", " "), "image": relative,
                       "additional_images": extras.get(image, [])}


def _checksum(source: Path) -> str:
    """sha256 of the catalog file (or of the folder's file list, sizes and times)."""
    digest = hashlib.sha256()
    if source.is_file():
        with open(source, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    else:
        for path in sorted(source.rglob("*")):
            if path.is_file():
                stat = path.stat()
                digest.update(f"{path.relative_to(source)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()
