"""Colour/size/shade variants: one result per group showing its best-matching variant, on every backend and
through the API; ``collapse=none``; stock per variant; makeup lines as one product with its shades."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from indexer.records import VectorStoreConfig
from indexer.runner import IndexJob, run_index
from indexer.sources.catalog import read_catalog
from indexer.stores.backends import VectorStores
from indexer.stores.filters import SearchFilters
from indexer.stores.image_rows import vector_products
from indexer.stores.index_store import IndexStore
from tests.conftest import make_settings, product_image
from tests.test_image_rows import overlap, passes, products_with_images, reference, write_images_version

PRODUCTS = 500


def grouped(products, seed: int = 0):
    """Consecutive runs of 1..6 products become the variants of one group, each with its own stock."""
    rng = np.random.default_rng(seed)
    grouped_products, row = [], 0
    while row < len(products):
        size = int(rng.integers(1, 7))
        for member in products[row:row + size]:
            grouped_products.append(dataclasses.replace(
                member, group=f"g{row}" if size > 1 else "", in_stock=bool(rng.random() < 0.7),
                options=(("Color", f"c{len(grouped_products)}"),) if size > 1 else ()))
        row += size
    return grouped_products


def group_key(product) -> str:
    return product.group or product.id


def collapsed_reference(products, vectors, query, k, filters: SearchFilters = SearchFilters()):
    """The k best groups, each as its best passing variant (by that variant's best image), in plain Python."""
    best: dict[str, tuple[float, str]] = {}
    for product, score in zip(vector_products(products), (vectors @ query).tolist()):
        if passes(product, filters) and score > best.get(group_key(product), (-2.0, ""))[0]:
            best[group_key(product)] = (score, product.id)
    return [variant for _, variant in sorted(best.values(), key=lambda item: -item[0])[:k]]


@pytest.fixture(scope="module", params=["Flat", "HNSW32,Flat", "IVF16,Flat"])
def variant_version(request, tmp_path_factory):
    root = tmp_path_factory.mktemp("variants-" + request.param.replace(",", "-"))
    products, vectors = products_with_images(PRODUCTS, seed=11)
    products = grouped(products)
    write_images_version(root, products, vectors, VectorStores(VectorStoreConfig(index_factory=request.param), root))
    return IndexStore.open(root), products, vectors, request.param


@pytest.mark.parametrize("filters", [SearchFilters(), SearchFilters(in_stock=True),
                                     SearchFilters(category="shoes", max_price=60.0)], ids=["none", "stock", "cat"])
def test_results_are_k_distinct_groups_each_its_best_matching_variant(variant_version, filters):
    store, products, vectors, factory = variant_version
    by_id = {product.id: product for product in products}
    overlaps = []
    for query_row in np.random.default_rng(5).integers(0, len(vectors), 15):
        hits = store.search(vectors[query_row], 10, filters)
        expected = collapsed_reference(products, vectors, vectors[query_row], 10, filters)
        ids = [hit.product.id for hit in hits]
        assert len(ids) == len(expected) == len({group_key(hit.product) for hit in hits})
        assert all(passes(hit.product, filters) for hit in hits)  # stock is the shown variant's own
        for hit in hits:
            members = [p.id for p in products if hit.product.group and p.group == hit.product.group]
            assert [variant.id for variant in hit.variants] == [m for m in members if m != hit.product.id]
            assert all(variant.in_stock == by_id[variant.id].in_stock for variant in hit.variants)
        overlaps.append(overlap(ids, expected, factory))
    assert np.mean(overlaps) >= (1.0 if factory == "Flat" else 0.9)


def test_collapse_off_returns_variants_as_results_of_their_own(variant_version):
    store, products, vectors, factory = variant_version
    for query_row in (3, 250, len(vectors) - 2):
        hits = store.search(vectors[query_row], 12, SearchFilters(), collapse=False)
        ids = [hit.product.id for hit in hits]
        assert len(set(ids)) == 12 and all(not hit.variants for hit in hits)
        if factory == "Flat":
            assert ids == reference(products, vectors, vectors[query_row], 12)


def test_more_like_this_leaves_out_the_products_own_variants(variant_version):
    store, products, _, _ = variant_version
    product = next(p for p in products if p.group)
    hits = store.similar(product.id, 8)
    assert len(hits) == 8 and product.group not in {hit.product.group for hit in hits}
    assert len({group_key(hit.product) for hit in hits}) == 8
    members = [p.id for p in products if p.group == product.group]
    assert [variant.id for variant in store.variants(product.id)] == members


def test_manifest_counts_products_variants_and_images(variant_version):
    store, products, vectors, _ = variant_version
    manifest = store.live.manifest
    sizes: dict[str, int] = {}
    for product in products:
        sizes[group_key(product)] = sizes.get(group_key(product), 0) + 1
    assert (manifest.count, manifest.groups, manifest.images) == (len(products), len(sizes), len(vectors))
    assert manifest.variants == sum(size for size in sizes.values() if size > 1) > 0


def test_milvus_collapses_groups_too(tmp_path, milvus_uri):
    products, vectors = products_with_images(240, seed=12)
    products = grouped(products, seed=2)
    stores = VectorStores(VectorStoreConfig(kind="milvus", milvus_uri=milvus_uri, milvus_prefix="var"), tmp_path)
    write_images_version(tmp_path, products, vectors, stores)
    store = IndexStore.open(tmp_path, stores)
    for query_row in (7, 301):
        for filters in (SearchFilters(), SearchFilters(in_stock=True)):
            hits = store.search(vectors[query_row], 10, filters)
            assert [hit.product.id for hit in hits] == collapsed_reference(products, vectors, vectors[query_row], 10,
                                                                           filters)
    stores.close()


COLOURS = {"red": 40, "green": 41, "blue": 42}  # dress colour -> picture seed
SHADES = {"Ruby": "#9B111E", "Rose": "#C26A77", "Plum": "#6E2A47"}


def write_variant_shop(folder: Path) -> Path:
    """A CSV catalog with a dress in three colours (green sold out), a lipstick in three shades, and singles."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    path = folder / "catalog.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "title", "image", "category", "price", "in_stock", "product_type", "shade_hex",
                         "group", "options"])
        for colour, seed in COLOURS.items():
            product_image(seed).save(folder / "images" / f"dress-{colour}.jpg", quality=92)
            writer.writerow([f"dress-{colour}", "Wrap dress", f"images/dress-{colour}.jpg", "dresses",
                             "59" if colour != "blue" else "64", "false" if colour == "green" else "true", "", "",
                             "dress", f"Color={colour}|Size=M"])
        for index in range(6):
            product_image(index).save(folder / "images" / f"p{index}.jpg", quality=92)
            writer.writerow([f"p{index}", f"Single {index}", f"images/p{index}.jpg", "shoes", "20", "true", "", "",
                             "", ""])
        for number, (shade, hexa) in enumerate(SHADES.items()):
            product_image(60 + number).save(folder / "images" / f"lip-{shade}.jpg", quality=92)
            writer.writerow([f"lip-{shade.lower()}", "Velvet lipstick", f"images/lip-{shade}.jpg", "lipstick", "24",
                             "true", "lipstick", hexa, "velvet", f"Shade={shade}"])
        writer.writerow(["bad", "Bad options", "images/p0.jpg", "shoes", "1", "true", "", "", "x", "Color"])
    return path


@pytest.fixture(scope="module")
def variant_app(tmp_path_factory, embedder):
    from app import create_app

    root = tmp_path_factory.mktemp("variant-app")
    report = run_index(IndexJob(catalog=write_variant_shop(root / "shop"), out_dir=root / "index",
                                show_progress=False), embedder)
    return create_app(make_settings(root / "index"), background_load=False), root / "shop", report


def post_photo(client, path: Path, query: str = ""):
    with open(path, "rb") as handle:
        response = client.post(f"/api/v1/search?k=12{query}", data={"image": (handle, "x.jpg")})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["results"]


def test_indexing_reports_groups_and_the_bad_options_row(variant_app):
    _, _, report = variant_app
    assert "8 products in 12 variants" in report.summary()
    assert [(row.product_id, row.reason) for row in report.skipped_rows] == [("bad", "bad_options")]


def test_a_group_is_one_result_showing_its_best_matching_variant(variant_app):
    app, shop, _ = variant_app
    client = app.test_client()
    results = post_photo(client, shop / "images" / "dress-blue.jpg")
    ids = [result["id"] for result in results]
    assert ids[0] == "dress-blue" and len(results) == 8  # 8 products: the dress and the lipstick once each
    assert not {"dress-red", "dress-green"} & set(ids) and sum(i.startswith("lip-") for i in ids) == 1
    first = results[0]
    assert (first["group"], first["options"], first["price"]) == ("dress", {"Color": "blue", "Size": "M"}, 64.0)
    assert [(v["id"], v["options"]["Color"], v["in_stock"], v["image_url"]) for v in first["variants"]] == [
        ("dress-red", "red", True, "/catalog/images/dress-red"),
        ("dress-green", "green", False, "/catalog/images/dress-green")]
    assert next(r for r in results if r["id"] == "p1")["variants"] == []


def test_collapse_none_returns_every_variant(variant_app):
    app, shop, _ = variant_app
    results = post_photo(app.test_client(), shop / "images" / "dress-blue.jpg", "&collapse=none")
    ids = [result["id"] for result in results]
    assert len(results) == 12 and {"dress-red", "dress-green", "dress-blue", "lip-ruby", "lip-plum"} <= set(ids)
    assert all(result["variants"] == [] for result in results)
    refused = app.test_client().get("/api/v1/search?q=dress&collapse=sideways")
    assert refused.status_code == 400 and refused.get_json()["error"]["code"] == "invalid_parameter"


def test_in_stock_filters_on_the_variants_stock(variant_app):
    app, shop, _ = variant_app
    client = app.test_client()
    results = post_photo(client, shop / "images" / "dress-green.jpg", "&in_stock=true")
    dress = next(result for result in results if result["group"] == "dress")
    assert dress["id"] in {"dress-red", "dress-blue"} and dress["in_stock"]
    assert "dress-green" in {variant["id"] for variant in dress["variants"]}
    assert post_photo(client, shop / "images" / "dress-green.jpg")[0]["id"] == "dress-green"


def test_product_and_similar_know_the_variants(variant_app):
    app, _, _ = variant_app
    client = app.test_client()
    body = client.get("/api/v1/products/lip-rose").get_json()
    assert body["group"] == "velvet" and body["options"] == {"Shade": "Rose"}
    assert [(v["id"], v["shade_hex"]) for v in body["variants"]] == [("lip-ruby", "#9B111E"), ("lip-plum", "#6E2A47")]
    similar = client.get("/api/v1/products/dress-red/similar?k=20").get_json()["results"]
    assert len(similar) == 7 and all(result["group"] != "dress" for result in similar)
    every = client.get("/api/v1/products/dress-red/similar?k=20&collapse=none").get_json()["results"]
    assert len(every) == 11 and "dress-red" not in {result["id"] for result in every}  # its other colours count


def test_for_you_counts_a_group_once_and_not_the_sessions_own(variant_app):
    app, _, _ = variant_app
    body = app.test_client().post("/api/v1/recommend", json={"positive": ["dress-red"], "k": 20}).get_json()
    groups = [result["group"] or result["id"] for result in body["results"]]
    assert len(groups) == len(set(groups)) == 7 and "dress" not in groups


def test_a_makeup_line_is_one_try_on_product_with_its_shades(variant_app):
    app, _, _ = variant_app
    body = app.test_client().get("/api/v1/tryon/products").get_json()
    (line,) = body["groups"]["lipstick"]
    assert line["id"] == "lip-ruby" and line["group"] == "velvet"
    assert [(shade["id"], shade["options"]["Shade"], shade["shade_hex"]) for shade in line["shades"]] == [
        ("lip-ruby", "Ruby", "#9B111E"), ("lip-rose", "Rose", "#C26A77"), ("lip-plum", "Plum", "#6E2A47")]


def test_console_shows_product_variant_and_image_counts(variant_app):
    app, _, _ = variant_app
    client = app.test_client()
    status = client.get("/api/v1/admin/status", headers={"Authorization": "Bearer s3cret-token"}).get_json()
    live = status["live"]
    assert (live["count"], live["products"], live["variants"], live["images"]) == (12, 8, 6, 12)


def test_merchant_center_item_group_id_groups_variants(tmp_path):
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        product_image(ord(name[0])).save(tmp_path / name)
    feed = tmp_path / "feed.xml"
    items = "".join(
        f"<item><g:id>{item_id}</g:id><title>Tee</title><g:image_link>{image}</g:image_link>"
        f"<g:price>{price} EUR</g:price><g:availability>{stock}</g:availability>{group}"
        f"<g:color>{colour}</g:color><g:size>M</g:size></item>"
        for item_id, image, price, stock, group, colour in [
            ("T-RED", "a.jpg", 10, "in stock", "<g:item_group_id>TEE</g:item_group_id>", "Red"),
            ("SOLO", "c.jpg", 5, "in stock", "", "Black"),
            ("T-BLUE", "b.jpg", 12, "out of stock", "<g:item_group_id>TEE</g:item_group_id>", "Blue")])
    feed.write_text('<?xml version="1.0"?><rss xmlns:g="http://base.google.com/ns/1.0"><channel>'
                    f"{items}</channel></rss>")
    products = read_catalog(feed).products
    assert [p.id for p in products] == ["T-RED", "T-BLUE", "SOLO"]  # a group's variants kept together
    red, blue, solo = products
    assert red.group == blue.group == "TEE" and red.options == (("Color", "Red"), ("Size", "M"))
    assert (blue.price, blue.in_stock) == (12.0, False)
    assert solo.group == "" and solo.options == ()


def test_options_in_jsonl_and_their_errors(tmp_path):
    product_image(1).save(tmp_path / "a.jpg")
    rows = [{"id": "a1", "title": "A", "image": "a.jpg", "group": "A", "options": {"Color": "Red", "Size": "S"}},
            {"id": "a2", "title": "A", "image": "a.jpg", "group": "A", "options": {"Color": ""}},
            {"id": "a3", "title": "A", "image": "a.jpg", "group": "A", "options": ["Color", "Red"]},
            {"id": "a4", "title": "A", "image": "a.jpg", "item_group_id": "A", "options": {"Color": "Blue"}}]
    path = tmp_path / "catalog.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in rows))
    catalog = read_catalog(path)
    assert [(p.id, p.group, p.options) for p in catalog.products] == [
        ("a1", "A", (("Color", "Red"), ("Size", "S"))), ("a4", "A", (("Color", "Blue"),))]
    assert [(row.line, row.reason) for row in catalog.skipped] == [(2, "bad_options"), (3, "bad_options")]


def test_a_variant_photo_finds_that_variant(variant_app):
    app, shop, _ = variant_app
    client = app.test_client()
    for shade in SHADES:
        assert post_photo(client, shop / "images" / f"lip-{shade}.jpg")[0]["id"] == f"lip-{shade.lower()}"
