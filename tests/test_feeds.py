"""Realistic Merchant Center and Shopify exports parse into the expected products."""

from __future__ import annotations

import pytest

from indexer.sources.catalog import read_catalog
from indexer.sources.feeds import detect_format, guess_product_type, parse_money
from tests.conftest import product_image


@pytest.fixture()
def images(tmp_path):
    for name in ("lip.jpg", "lip-2.jpg", "dress.jpg", "bag.jpg"):
        product_image(len(name)).save(tmp_path / name)
    return tmp_path


GMC_TSV = (
    "id\ttitle\tdescription\tlink\timage_link\tadditional_image_link\tprice\tsale_price\tavailability\tbrand\t"
    "product_type\tgoogle_product_category\tcolor\n"
    "SKU-1\tVelvet Lipstick Ruby\tLong wear\thttps://shop.example/p/1\tlip.jpg\tlip-2.jpg\t24.00 EUR\t19.90 EUR\t"
    "in stock\tLumen\tBeauty > Makeup > Lips > Lipstick\tHealth & Beauty > Cosmetics\t#9B1B30\n"
    "SKU-2\tSummer Dress\tLinen\thttps://shop.example/p/2\tdress.jpg\t\t59.00 EUR\t\tout of stock\tNorda\t"
    "Apparel > Dresses\tApparel & Accessories > Clothing > Dresses\tRed\n"
    "SKU-3\tTote\t\thttps://shop.example/p/3\tbag.jpg\t\t129,50 GBP\t\tpreorder\tNorda\tBags\t\tBlack\n"
    "\tNo id\t\t\tbag.jpg\t\t10 EUR\t\tin stock\t\t\t\t\n")

GMC_XML = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:g="http://base.google.com/ns/1.0">
 <channel>
  <title>Lumen feed</title>
  <item>
   <g:id>SKU-1</g:id>
   <title>Velvet Lipstick Ruby</title>
   <link>https://shop.example/p/1</link>
   <g:image_link>lip.jpg</g:image_link>
   <g:additional_image_link>lip-2.jpg</g:additional_image_link>
   <g:price>24.00 EUR</g:price>
   <g:availability>in_stock</g:availability>
   <g:brand>Lumen</g:brand>
   <g:product_type>Beauty &gt; Makeup &gt; Lipstick</g:product_type>
  </item>
  <item>
   <g:id>SKU-2</g:id>
   <g:title>Summer Dress</g:title>
   <g:link>https://shop.example/p/2</g:link>
   <g:image_link>dress.jpg</g:image_link>
   <g:price>59.00 EUR</g:price>
   <g:sale_price>49.00 EUR</g:sale_price>
   <g:availability>out_of_stock</g:availability>
   <g:google_product_category>Apparel &amp; Accessories &gt; Clothing &gt; Dresses</g:google_product_category>
  </item>
 </channel>
</rss>
"""

SHOPIFY_CSV = (
    "Handle,Title,Body (HTML),Vendor,Type,Tags,Published,Option1 Name,Option1 Value,Variant SKU,"
    "Variant Inventory Qty,Variant Price,Image Src,Image Position,Status\n"
    "velvet-lipstick,Velvet Lipstick,<p>Matte</p>,Lumen,Lipstick,\"makeup, lips\",true,Shade,Ruby,L-1,0,24.00,"
    "lip.jpg,1,active\n"
    "velvet-lipstick,,,,,,,,Berry,L-2,7,24.00,lip-2.jpg,2,\n"
    "summer-dress,Summer Dress,<p>Linen</p>,Norda,Dresses,summer,true,Size,S,D-1,0,59.00,dress.jpg,1,active\n"
    "summer-dress,,,,,,,,M,D-2,0,59.00,,,\n"
    "tote,Tote,,Norda,Bags,,true,Title,Default Title,T-1,3,,bag.jpg,1,active\n")


def test_merchant_center_tsv(images):
    path = images / "feed.tsv"
    path.write_text(GMC_TSV)
    assert detect_format(path) == "gmc"
    catalog = read_catalog(path)
    by_id = {p.id: p for p in catalog.products}
    lipstick = by_id["SKU-1"]
    assert (lipstick.title, lipstick.price, lipstick.currency) == ("Velvet Lipstick Ruby", 19.9, "EUR")  # sale price
    assert lipstick.in_stock and lipstick.brand == "Lumen" and lipstick.category == "Lipstick"
    assert lipstick.product_type.value == "lipstick" and lipstick.shade_hex == "#9B1B30"
    assert lipstick.url == "https://shop.example/p/1" and lipstick.image.endswith("lip.jpg")
    assert [image.rsplit("/", 1)[-1] for image in lipstick.images] == ["lip-2.jpg"]  # additional_image_link
    dress = by_id["SKU-2"]
    assert dress.in_stock is False and dress.category == "Dresses" and dress.shade_hex == ""
    assert dress.product_type is None
    tote = by_id["SKU-3"]
    assert (tote.price, tote.currency, tote.in_stock) == (129.5, "GBP", False)  # preorder: not in stock
    assert [(row.line, row.reason) for row in catalog.skipped] == [(5, "missing_id")]


def test_merchant_center_xml(images):
    path = images / "feed.xml"
    path.write_text(GMC_XML)
    assert detect_format(path) == "gmc"
    products = {p.id: p for p in read_catalog(path).products}
    assert set(products) == {"SKU-1", "SKU-2"}
    assert products["SKU-1"].price == 24.0 and products["SKU-1"].product_type.value == "lipstick"
    assert products["SKU-1"].in_stock and products["SKU-1"].title == "Velvet Lipstick Ruby"
    assert [image.rsplit("/", 1)[-1] for image in products["SKU-1"].images] == ["lip-2.jpg"]
    assert products["SKU-2"].price == 49.0 and products["SKU-2"].in_stock is False
    assert products["SKU-2"].category == "Dresses"


def test_shopify_export_maps_variants_to_one_group(images):
    path = images / "products_export.csv"
    path.write_text(SHOPIFY_CSV)
    assert detect_format(path) == "shopify"
    catalog = read_catalog(path)
    products = {p.id: p for p in catalog.products}
    assert list(products) == ["velvet-lipstick--ruby", "velvet-lipstick--berry", "summer-dress--s",
                              "summer-dress--m", "tote"]
    ruby, berry = products["velvet-lipstick--ruby"], products["velvet-lipstick--berry"]
    assert (ruby.title, ruby.brand, ruby.category, ruby.price) == ("Velvet Lipstick", "Lumen", "Lipstick", 24.0)
    assert ruby.group == berry.group == "velvet-lipstick"
    assert ruby.options == (("Shade", "Ruby"),) and berry.options == (("Shade", "Berry"),)
    assert ruby.in_stock is False and berry.in_stock  # stock is the variant's own
    assert ruby.product_type.value == "lipstick" and ruby.image.endswith("lip.jpg") and ruby.line == 2
    assert berry.line == 3 and berry.image.endswith("lip.jpg")  # no Variant Image: the product's first photo
    assert [image.rsplit("/", 1)[-1] for image in ruby.images] == ["lip-2.jpg"]  # the product's photos: once
    assert berry.images == ()
    assert not any(products[f"summer-dress--{size}"].in_stock for size in "sm")  # every variant at 0
    tote = products["tote"]  # one variant ("Default Title"): a plain product, its id the handle
    assert tote.price is None and tote.in_stock and tote.group == "" and tote.options == ()


def test_shopify_hex_option_is_the_shade(images):
    path = images / "products_export.csv"
    path.write_text("Handle,Title,Type,Option1 Name,Option1 Value,Option2 Name,Option2 Value,Variant Price,"
                    "Variant Inventory Qty,Image Src,Variant Image\n"
                    "gloss,Gloss,Lip gloss,Shade,#AA2233,Size,5 ml,12,3,lip.jpg,\n"
                    "gloss,,,,#D46A7E,,5 ml,13,0,,lip-2.jpg\n")
    first, second = read_catalog(path).products
    assert (first.id, first.shade_hex, first.options) == ("gloss--aa2233-5-ml", "#AA2233",
                                                          (("Shade", "#AA2233"), ("Size", "5 ml")))
    assert (second.shade_hex, second.price, second.in_stock) == ("#D46A7E", 13.0, False)
    assert second.image.endswith("lip-2.jpg") and first.product_type.value == "lipstick"


def test_format_can_be_forced(images):
    path = images / "export.txt"
    path.write_text(GMC_TSV)
    assert {p.id for p in read_catalog(path, fmt="gmc").products} == {"SKU-1", "SKU-2", "SKU-3"}


def test_broken_xml_is_a_catalog_error(images):
    from indexer.sources.catalog import CatalogError

    path = images / "feed.xml"
    path.write_text("<rss><channel><item>")
    with pytest.raises(CatalogError, match="not valid XML"):
        read_catalog(path)


@pytest.mark.parametrize("text, expected", [("12.99 EUR", ("12.99", "EUR")), ("12,99 eur", ("12.99", "EUR")),
                                            ("1,299.00 USD", ("1299.00", "USD")), ("15", ("15", "")),
                                            ("", ("", ""))])
def test_parse_money(text, expected):
    assert parse_money(text) == expected


@pytest.mark.parametrize("text, expected", [("Beauty > Makeup > Lips > Lip Liner", "lip_liner"),
                                            ("Eye Shadow Palettes", "eyeshadow"), ("Dresses", ""),
                                            ("makeup, lips, lipstick", "lipstick")])
def test_guess_product_type(text, expected):
    assert guess_product_type(text) == expected
