"""Catalog parsing: three formats, every bad-row family, duplicates and path escapes."""

from __future__ import annotations

import json
import os

import pytest

from indexer.sources.catalog import CatalogError, read_catalog
from tests.conftest import product_image, write_catalog
from vision.looks import Finish, ProductType


def test_csv_catalog(tmp_path):
    catalog = read_catalog(write_catalog(tmp_path, 5))
    assert [p.id for p in catalog.products] == [f"p{i:03d}" for i in range(5)]
    first = catalog.products[0]
    assert first.title == "Product 0" and first.category == "dresses" and first.price == 10.5
    assert first.currency == "EUR" and first.in_stock is False and first.line == 2
    assert os.path.isabs(first.image) and catalog.checksum and not catalog.skipped


def test_jsonl_catalog(tmp_path):
    product_image(0).save(tmp_path / "a.jpg")
    rows = [{"id": "lip-1", "title": "Ruby Matte", "image": "a.jpg", "product_type": "lipstick",
             "shade_hex": "#9b1b30", "finish": "matte", "price": 19, "in_stock": True},
            {"id": "lip-2", "title": "Nude", "image": "a.jpg", "product_type": "Lip Liner", "finish": "Gloss"}]
    path = tmp_path / "catalog.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n\n")
    products = read_catalog(path).products
    assert products[0].product_type is ProductType.LIPSTICK and products[0].shade_hex == "#9B1B30"
    assert products[0].finish is Finish.MATTE and products[0].price == 19.0
    assert products[1].product_type is ProductType.LIP_LINER and products[1].finish is Finish.GLOSS


def test_folder_catalog(tmp_path):
    (tmp_path / "shoes").mkdir()
    product_image(1).save(tmp_path / "shoes" / "red_sneaker.png")
    product_image(2).save(tmp_path / "blue-dress.jpg")
    (tmp_path / "notes.txt").write_text("ignored")
    products = read_catalog(tmp_path).products
    assert [(p.id, p.title) for p in products] == [("blue-dress.jpg", "blue dress"),
                                                  ("shoes/red_sneaker.png", "red sneaker")]


BAD_ROWS = [
    ({"id": "", "title": "t", "image": "ok.jpg"}, "missing_id"),
    ({"id": "x", "title": "", "image": "ok.jpg"}, "missing_title"),
    ({"id": "x", "title": "t", "image": ""}, "missing_image"),
    ({"id": "x", "title": "t", "image": "nope.jpg"}, "image_missing"),
    ({"id": "x", "title": "t", "image": "ok.jpg", "price": "cheap"}, "bad_price"),
    ({"id": "x", "title": "t", "image": "ok.jpg", "price": "-3"}, "bad_price"),
    ({"id": "x", "title": "t", "image": "ok.jpg", "price": "nan"}, "bad_price"),
    ({"id": "x", "title": "t", "image": "ok.jpg", "shade_hex": "red"}, "bad_shade_hex"),
    ({"id": "x", "title": "t", "image": "ok.jpg", "product_type": "hat"}, "unknown_product_type"),
    ({"id": "x", "title": "t", "image": "ok.jpg", "finish": "velvet"}, "unknown_finish"),
    ({"id": "x", "title": "t", "image": "ok.jpg", "in_stock": "maybe"}, "bad_in_stock"),
    ({"id": "x", "title": "t", "image": "../outside.jpg"}, "image_outside_catalog"),
]


@pytest.mark.parametrize("row, reason", BAD_ROWS, ids=[reason for _, reason in BAD_ROWS])
def test_bad_rows_are_skipped_with_line_and_reason(tmp_path, row, reason):
    folder = tmp_path / "shop"
    folder.mkdir()
    product_image(0).save(folder / "ok.jpg")
    product_image(0).save(tmp_path / "outside.jpg")
    good = {"id": "good", "title": "Good", "image": "ok.jpg"}
    path = folder / "catalog.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(row) + "\n")
    catalog = read_catalog(path)
    assert [p.id for p in catalog.products] == ["good"]
    assert [(s.line, s.reason) for s in catalog.skipped] == [(2, reason)]
    assert "line 2" in catalog.skipped[0].message


def test_invalid_json_line_is_skipped(tmp_path):
    product_image(0).save(tmp_path / "ok.jpg")
    path = tmp_path / "c.jsonl"
    path.write_text('{"id": "a", "title": "A", "image": "ok.jpg"}\n{oops\n[1, 2]\n')
    catalog = read_catalog(path)
    assert [(s.line, s.reason) for s in catalog.skipped] == [(2, "bad_json"), (3, "bad_json")]


def test_csv_line_numbers_count_quoted_newlines(tmp_path):
    product_image(0).save(tmp_path / "ok.jpg")
    path = tmp_path / "c.csv"
    path.write_text('id,title,image,price\na,"Two\nline title",ok.jpg,1\nb,B,ok.jpg,bad\n')
    catalog = read_catalog(path)
    assert catalog.products[0].title == "Two\nline title"
    assert [(s.line, s.reason) for s in catalog.skipped] == [(4, "bad_price")]


def test_duplicate_ids_name_both_lines(tmp_path):
    write_catalog(tmp_path, 3)
    path = tmp_path / "catalog.csv"
    with open(path, "a") as handle:
        handle.write("p001,Again,images/p001.jpg,shoes,b,1,EUR,,true\n")
    with pytest.raises(CatalogError, match=r"'p001' on lines 3 and 5"):
        read_catalog(path)


def test_absolute_path_outside_is_refused_unless_allowed(tmp_path):
    folder = tmp_path / "shop"
    folder.mkdir()
    outside = tmp_path / "elsewhere.jpg"
    product_image(0).save(outside)
    path = folder / "c.jsonl"
    path.write_text(json.dumps({"id": "a", "title": "A", "image": str(outside)}) + "\n")
    assert read_catalog(path).skipped[0].reason == "image_outside_catalog"
    assert read_catalog(path, allow_outside_images=True).products[0].image == str(outside)


def test_symlink_out_of_the_folder_is_refused(tmp_path):
    folder = tmp_path / "shop"
    folder.mkdir()
    secret = tmp_path / "secret.jpg"
    product_image(0).save(secret)
    (folder / "link.jpg").symlink_to(secret)
    path = folder / "c.jsonl"
    path.write_text(json.dumps({"id": "a", "title": "A", "image": "link.jpg"}) + "\n")
    assert read_catalog(path).skipped[0].reason == "image_outside_catalog"


@pytest.mark.parametrize("name, content, message", [
    ("missing.csv", None, "does not exist"),
    ("empty.csv", "", "empty"),
    ("catalog.xlsx", "x", "unknown catalog format"),
])
def test_unusable_catalogs(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(CatalogError, match=message):
        read_catalog(path)


def test_malformed_csv_is_a_catalog_error_naming_the_line(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text('id,title,image\na,A,x.jpg\nb,"' + "x" * 200_000 + '",y.jpg\n')  # over csv's field limit
    with pytest.raises(CatalogError, match="line"):
        read_catalog(path)
