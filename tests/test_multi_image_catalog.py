"""Every photo of a product, from each catalog format through indexing to the API."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from indexer.runner import IndexJob, run_index
from indexer.sources.catalog import MAX_EXTRA_IMAGES, read_catalog
from indexer.stores.index_store import IndexStore
from tests.conftest import make_settings, product_image
from vision.images import load_image

EXTRAS = {"p000": [100, 101], "p003": [103], "p005": [105, 106, 107]}  # product -> its extra pictures


def write_shop(folder: Path, count: int = 8, broken: bool = False) -> Path:
    """A CSV catalog whose products have extra photos (``additional_images``), optionally one unusable."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    path = folder / "catalog.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "title", "image", "category", "price", "in_stock", "additional_images"])
        for i in range(count):
            product_id = f"p{i:03d}"
            product_image(i).save(folder / "images" / f"{product_id}.jpg", quality=92)
            extras = []
            for number in EXTRAS.get(product_id, []):
                product_image(number).save(folder / "images" / f"x{number}.jpg", quality=92)
                extras.append(f"images/x{number}.jpg")
            if broken and product_id == "p003":
                (folder / "images" / "torn.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
                extras += ["images/torn.jpg", "images/missing.jpg", "../outside.jpg"]
            writer.writerow([product_id, f"Product {i}", f"images/{product_id}.jpg", ["dresses", "shoes"][i % 2],
                             f"{10 + i}", "false" if i == 5 else "true", "|".join(extras)])
    return path


def job(catalog: Path, out: Path) -> IndexJob:
    return IndexJob(catalog=catalog, out_dir=out, show_progress=False)


def photo(folder: Path, number: int):
    return load_image((folder / "images" / f"x{number}.jpg").read_bytes())


def test_an_extra_image_finds_its_product_first(tmp_path, embedder):
    report = run_index(job(write_shop(tmp_path / "shop"), tmp_path / "index"), embedder)
    assert (report.products, report.images, report.embedded) == (8, 14, 14)
    assert "8 products with 14 images" in report.summary()
    manifest = json.loads((tmp_path / "index" / report.version / "manifest.json").read_text())
    assert (manifest["count"], manifest["images"]) == (8, 14)
    store = IndexStore.open(tmp_path / "index")
    for product_id, numbers in EXTRAS.items():
        for position, number in enumerate(numbers, start=1):
            hits = store.search(embedder.encode_images([photo(tmp_path / "shop", number)])[0], k=5)
            assert hits[0].product.id == product_id and hits[0].image == position
            assert len({hit.product.id for hit in hits}) == 5


def test_a_bad_extra_image_is_reported_and_the_product_stays(tmp_path, embedder):
    report = run_index(job(write_shop(tmp_path / "shop", broken=True), tmp_path / "index"), embedder)
    assert report.products == 8 and report.images == 14 and report.skipped_rows == []
    left_out = {(row.product_id, Path(row.image).name, row.reason) for row in report.skipped_images}
    assert left_out == {("p003", "torn.jpg", "invalid_image"), ("p003", "missing.jpg", "image_missing"),
                        ("p003", "outside.jpg", "image_outside_catalog")}
    assert all("kept without it" in row.message and row.line == 5 for row in report.skipped_images)
    assert "left out 3 extra images of indexed products" in report.summary()
    manifest = json.loads((tmp_path / "index" / report.version / "manifest.json").read_text())
    assert manifest["skipped"] == {} and sum(manifest["skipped_images"].values()) == 3
    store = IndexStore.open(tmp_path / "index")
    hits = store.search(embedder.encode_images([photo(tmp_path / "shop", 103)])[0], k=3)
    assert hits[0].product.id == "p003" and hits[0].image == 1


def test_reindexing_embeds_only_new_images(tmp_path, embedder):
    catalog = write_shop(tmp_path / "shop")
    run_index(job(catalog, tmp_path / "index"), embedder)
    product_image(200).save(tmp_path / "shop" / "images" / "x200.jpg", quality=92)
    text = catalog.read_text().replace("images/x103.jpg", "images/x103.jpg|images/x200.jpg")
    catalog.write_text(text)
    report = run_index(job(catalog, tmp_path / "index"), embedder)
    assert (report.embedded, report.reused, report.images) == (1, 14, 15)
    store = IndexStore.open(tmp_path / "index")
    hit = store.search(embedder.encode_images([photo(tmp_path / "shop", 200)])[0], k=1)[0]
    assert (hit.product.id, hit.image) == ("p003", 2)


def test_jsonl_lists_and_limits(tmp_path):
    for number in range(MAX_EXTRA_IMAGES + 3):
        product_image(number).save(tmp_path / f"{number}.jpg")
    rows = [{"id": "a", "title": "A", "image": "0.jpg", "additional_images": ["1.jpg", "2.jpg", "1.jpg", "0.jpg"]},
            {"id": "b", "title": "B", "image": "0.jpg",
             "additional_images": [f"{n}.jpg" for n in range(1, MAX_EXTRA_IMAGES + 3)]}]
    path = tmp_path / "catalog.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in rows))
    catalog = read_catalog(path)
    a, b = catalog.products
    assert [Path(image).name for image in a.images] == ["1.jpg", "2.jpg"]  # repeats and the main image dropped
    assert len(b.images) == MAX_EXTRA_IMAGES
    assert [(row.product_id, row.reason) for row in catalog.skipped] == [("b", "too_many_images")] * 2


def test_folder_catalog_product_folders(tmp_path):
    (tmp_path / "dresses" / "red").mkdir(parents=True)
    product_image(1).save(tmp_path / "dresses" / "red.jpg")
    product_image(2).save(tmp_path / "dresses" / "red" / "worn.jpg")
    product_image(3).save(tmp_path / "dresses" / "red" / "detail.png")
    product_image(4).save(tmp_path / "dresses" / "blue.jpg")
    products = {p.id: p for p in read_catalog(tmp_path).products}
    assert set(products) == {"dresses/red.jpg", "dresses/blue.jpg"}
    assert [Path(image).name for image in products["dresses/red.jpg"].images] == ["detail.png", "worn.jpg"]
    assert products["dresses/blue.jpg"].images == ()


def test_merchant_center_and_shopify_extra_images(tmp_path):
    for name in ("a.jpg", "b.jpg", "c.jpg", "d.jpg"):
        product_image(len(name) + ord(name[0])).save(tmp_path / name)
    tsv = tmp_path / "feed.tsv"
    tsv.write_text("id\ttitle\timage_link\tadditional_image_link\tprice\n"
                   "S1\tShirt\ta.jpg\tb.jpg, c.jpg\t10 EUR\n")
    assert [Path(i).name for i in read_catalog(tsv).products[0].images] == ["b.jpg", "c.jpg"]
    xml = tmp_path / "feed.xml"
    links = "".join(f"<g:additional_image_link>{name}</g:additional_image_link>" for name in ("b.jpg", "d.jpg") * 6)
    xml.write_text('<?xml version="1.0"?><rss xmlns:g="http://base.google.com/ns/1.0"><channel><item>'
                   f"<g:id>S1</g:id><title>Shirt</title><g:image_link>a.jpg</g:image_link>{links}"
                   "</item></channel></rss>")
    assert [Path(i).name for i in read_catalog(xml).products[0].images] == ["b.jpg", "d.jpg"]
    shopify = tmp_path / "products_export.csv"
    shopify.write_text("Handle,Title,Option1 Name,Option1 Value,Variant Price,Image Src,Variant Image\n"
                       "shirt,Shirt,Color,Red,10,a.jpg,b.jpg\n"
                       "shirt,,,Blue,10,c.jpg,d.jpg\n"
                       "shirt,,,,,d.jpg,\n")
    red, blue = read_catalog(shopify).products  # the first variant carries the product's photos, once
    assert (red.id, Path(red.image).name, [Path(i).name for i in red.images]) == ("shirt--red", "b.jpg",
                                                                                 ["a.jpg", "c.jpg", "d.jpg"])
    assert (blue.id, Path(blue.image).name, blue.images) == ("shirt--blue", "d.jpg", ())


@pytest.fixture(scope="module")
def images_app(tmp_path_factory, embedder):
    from app import create_app

    root = tmp_path_factory.mktemp("images-app")
    run_index(job(write_shop(root / "shop"), root / "index"), embedder)
    return create_app(make_settings(root / "index"), background_load=False), root / "shop"


def test_api_returns_the_matched_photo(images_app):
    app, shop = images_app
    client = app.test_client()
    with open(shop / "images" / "x106.jpg", "rb") as handle:
        response = client.post("/api/v1/search", data={"image": (handle, "x.jpg"), "k": "4"})
    assert response.status_code == 200, response.get_json()
    results = response.get_json()["results"]
    assert results[0]["id"] == "p005" and results[0]["matched_image_url"] == "/catalog/images/p005?image=2"
    assert results[0]["image_url"] == "/catalog/images/p005"
    assert len({result["id"] for result in results}) == 4
    assert all(result["matched_image_url"] for result in results)
    thumbnail = client.get(results[0]["matched_image_url"] + "&size=128")
    assert thumbnail.status_code == 200 and thumbnail.mimetype == "image/jpeg"
    assert thumbnail.data != client.get("/catalog/images/p005?size=128").data
    missing = client.get("/catalog/images/p005?image=9")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"
    assert client.get("/catalog/images/p005?image=-1").get_json()["error"]["code"] == "invalid_parameter"


def test_api_product_lists_every_photo_and_similar_excludes_itself(images_app):
    app, _ = images_app
    client = app.test_client()
    body = client.get("/api/v1/products/p005").get_json()
    assert body["image_urls"] == ["/catalog/images/p005"] + [f"/catalog/images/p005?image={n}" for n in (1, 2, 3)]
    assert client.get("/api/v1/products/p001").get_json()["image_urls"] == ["/catalog/images/p001"]
    similar = client.get("/api/v1/products/p005/similar?k=7").get_json()["results"]
    assert len(similar) == 7 and "p005" not in {result["id"] for result in similar}
