"""The columnar product table: the same products and filter results as plain Python, mapped not copied."""

from __future__ import annotations

import json
from pathlib import Path
from unittest import mock

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexer.records import Product
from indexer.stores import filters as filters_module
from indexer.stores.filters import SearchFilters
from indexer.stores.product_table import TABLE_FILE, ProductTable, write_product_table
from indexer.stores.vector_store import CorruptIndex
from vision.looks import Finish, ProductType

CATEGORIES = ["Bags", "bags", "Shoes", "dresses", ""]
BRANDS = ["Acme", "ACME", "Zeta", ""]

products_strategy = st.lists(
    st.builds(
        Product,
        id=st.text(min_size=1, max_size=12),
        title=st.text(max_size=30),
        image=st.just("/img/x.jpg"),
        line=st.integers(0, 10_000),
        category=st.sampled_from(CATEGORIES),
        brand=st.sampled_from(BRANDS),
        price=st.one_of(st.none(), st.floats(0, 500, allow_nan=False)),
        currency=st.sampled_from(["", "EUR", "USD"]),
        url=st.just(""),
        in_stock=st.booleans(),
        product_type=st.one_of(st.none(), st.sampled_from(list(ProductType))),
        shade_hex=st.sampled_from(["", "#9B1B30", "#F1A7B5"]),
        finish=st.one_of(st.none(), st.sampled_from(list(Finish))),
    ),
    min_size=1, max_size=60, unique_by=lambda product: product.id,
)
filters_strategy = st.builds(
    SearchFilters,
    category=st.one_of(st.none(), st.sampled_from(["bags", "BAGS", "shoes", "hats", ""])),
    brand=st.one_of(st.none(), st.sampled_from(["acme", "zeta", "nobody"])),
    product_type=st.one_of(st.none(), st.sampled_from([kind.value for kind in ProductType])),
    min_price=st.one_of(st.none(), st.floats(0, 300, allow_nan=False)),
    max_price=st.one_of(st.none(), st.floats(0, 600, allow_nan=False)),
    in_stock=st.one_of(st.none(), st.booleans()),
)


def reference(products: list[Product], filters: SearchFilters) -> list[int]:
    """The filters spelled out in plain Python, one product at a time."""
    def passes(p: Product) -> bool:
        if filters.category is not None and p.category.lower() != filters.category.lower():
            return False
        if filters.brand is not None and p.brand.lower() != filters.brand.lower():
            return False
        kind = p.product_type.value if p.product_type else ""
        if filters.product_type is not None and kind.lower() != filters.product_type.lower():
            return False
        if filters.min_price is not None and (p.price is None or p.price < filters.min_price):
            return False
        if filters.max_price is not None and (p.price is None or p.price > filters.max_price):
            return False
        return filters.in_stock is None or p.in_stock == filters.in_stock
    return [row for row, product in enumerate(products) if passes(product)]


def written(folder: Path, products: list[Product]) -> ProductTable:
    folder.mkdir(parents=True, exist_ok=True)
    write_product_table(folder / TABLE_FILE, products, np.arange(len(products), dtype=np.int64) * 7)
    return ProductTable.open(folder)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(products=products_strategy, filters=st.lists(filters_strategy, min_size=1, max_size=5))
def test_filters_select_the_rows_plain_python_selects(tmp_path_factory, products, filters):
    table = written(tmp_path_factory.mktemp("table"), products)
    columns = table.filter_columns()
    for query in filters:
        for scatter_cost in (0, 10**9):  # price ranges as slices of the price order, then as comparisons
            with mock.patch.object(filters_module, "SCATTER_COST", scatter_cost):
                mask = columns.mask(query)
            rows = list(range(len(products))) if mask is None else list(np.flatnonzero(mask))
            assert rows == reference(products, query)


def test_tables_written_before_the_price_order_filter_the_same(tmp_path):
    products = [Product(f"p{i}", "T", "/x.jpg", price=None if i % 7 == 0 else float(i % 13)) for i in range(300)]
    table = written(tmp_path / "new", products)
    old = pa.ipc.open_file(str(tmp_path / "new" / TABLE_FILE)).read_all().drop_columns(
        ["price_order", "group", "options", "group_row"])
    (tmp_path / "old").mkdir()
    with pa.OSFile(str(tmp_path / "old" / TABLE_FILE), "wb") as sink, pa.ipc.new_file(sink, old.schema) as writer:
        writer.write_table(old)
    old_table = ProductTable.open(tmp_path / "old")
    assert old_table.filter_columns()._price_order is None
    for query in (SearchFilters(min_price=3, max_price=3), SearchFilters(max_price=2.5), SearchFilters(min_price=12)):
        expected = reference(products, query)
        assert list(np.flatnonzero(old_table.filter_columns().mask(query))) == expected
        assert list(np.flatnonzero(table.filter_columns().mask(query))) == expected


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(products=products_strategy)
def test_rows_and_ids_come_back_as_they_went_in(tmp_path_factory, products):
    table = written(tmp_path_factory.mktemp("table"), products)
    assert len(table) == len(products)
    assert list(table) == products
    assert table.take([len(products) - 1, 0]) == [products[-1], products[0]]
    for row, product in enumerate(products):
        assert table.row_of(product.id) == row
        assert table[row] == product
    assert table.row_of("\uffff-not-there") is None
    assert list(table.faiss_ids) == [7 * row for row in range(len(products))]


def test_shaded_makeup_rows(tmp_path):
    products = [Product("a", "A", "/a.jpg", product_type=ProductType.LIPSTICK, shade_hex="#9B1B30"),
                Product("b", "B", "/b.jpg", product_type=ProductType.LIPSTICK),
                Product("c", "C", "/c.jpg", category="bags"),
                Product("d", "D", "/d.jpg", product_type=ProductType.BLUSH, shade_hex="#F1A7B5")]
    table = written(tmp_path, products)
    assert [p.id for p in table.rows_with_shades(["lipstick", "blush"])] == ["a", "d"]
    assert [p.id for p in table.rows_with_shades(["blush"])] == ["d"]


def test_columns_are_mapped_not_copied(tmp_path):
    products = [Product(f"p{i}", f"Product {i}", "/x.jpg", category=["bags", "shoes"][i % 2], price=float(i))
                for i in range(1000)]
    table = written(tmp_path, products)
    columns = table.filter_columns()
    for array in (table.faiss_ids, columns._price, columns._labels["category"].codes):
        assert not array.flags.owndata  # a view of the mapped file's buffers


def test_versions_written_before_the_table_are_still_read(tmp_path):
    products = [Product("p1", "One", "/1.jpg", category="Bags", price=12.5),
                Product("p2", "Two", "/2.jpg", product_type=ProductType.LIPSTICK, shade_hex="#9B1B30")]
    lines = [json.dumps(dict(product.to_record(), faiss_id=10 + row)) for row, product in enumerate(products)]
    (tmp_path / "products.jsonl").write_text("\n".join(lines) + "\n")
    table = ProductTable.open(tmp_path)
    assert list(table) == products and list(table.faiss_ids) == [10, 11]
    assert table.row_of("p2") == 1


@pytest.mark.parametrize("damage", ["torn", "garbage", "missing"])
def test_a_damaged_table_is_refused_with_a_clear_error(tmp_path, damage):
    written(tmp_path, [Product(f"p{i}", "T", "/x.jpg") for i in range(50)])
    path = tmp_path / TABLE_FILE
    if damage == "torn":
        path.write_bytes(path.read_bytes()[:300])
    elif damage == "garbage":
        path.write_bytes(b"not an arrow file at all" * 10)
    else:
        path.unlink()
    with pytest.raises(CorruptIndex, match=tmp_path.name):
        ProductTable.open(tmp_path)
