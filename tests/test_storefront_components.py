"""<shoplens-search> and <shoplens-tryon> in a shop's own page (another origin, hostile CSS): photo, crop,
text and filters in a results drawer; a shade tried on the shopper's photo; keyboard and axe checks."""

from __future__ import annotations

import base64
import io
import json
import urllib.parse
import urllib.request

import numpy as np
import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import expect

from tests.browser import free_port, phone_page, requires_chromium, running_server
from tests.test_accessibility import serious
from tests.test_storefront_browser import shop_site

pytestmark = [pytest.mark.browser, requires_chromium]
OURS = {"include": [["shoplens-search"], ["shoplens-tryon"]]}  # axe judges our elements, not the shop's page

TOOLS_PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>A shop</title>
<style>
  body {{ font-size: 3px; color: red; }}
  div, img, ul, li, a, span, button, p, h2, h3, input, label, form, section, dialog, details {{
    margin: 60px !important; padding: 30px !important; border: 9px solid lime !important; }}
</style>
<script src="{server}/embed/shoplens.js" defer></script>
<script>
  window.events = [];
  for (const name of ["shoplens:add-to-cart", "shoplens:select"]) {{
    document.addEventListener(name, (event) => {{ window.events.push([name, event.detail]); event.preventDefault(); }});
  }}
  // what the components send (the browser does not show a test the bodies of file uploads)
  window.sent = [];
  const realFetch = window.fetch;
  window.fetch = (url, options = {{}}) => {{
    const form = options.body instanceof FormData ? options.body : null;
    window.sent.push({{ url: String(url), fields: form && Object.fromEntries([...form.entries()].map(
      ([key, value]) => [key, typeof value === "string" ? value : "<file>"])) }});
    return realFetch(url, options);
  }};
</script></head>
<body><header><a href="#top" id="shop-link">Shop home</a><shoplens-search k="6"></shoplens-search></header>
<main><h1>Velvet Lipstick — Ruby</h1><shoplens-tryon product-id="lip-ruby-matte"></shoplens-tryon></main>
</body></html>"""

ACTIVE_IN_SHADOW = """(selector) => {
  const host = document.querySelector(selector);
  const active = host.shadowRoot.activeElement;
  if (document.activeElement !== host || !active) return null;
  return { inDialog: Boolean(active.closest("dialog")), tag: active.tagName, type: active.type || "",
           text: active.textContent };
}"""


@pytest.fixture(scope="module")
def tools(makeup_index):
    """shoplens (the demo makeup catalog, shop-the-look items forced) and a shop page allowed to use it."""
    shop_port = free_port()
    allowed = f"http://127.0.0.1:{shop_port}"
    with running_server("--index", str(makeup_index), "--reload-interval", "0", "--cors-origins", allowed,
                        "--item-min-gain", "-2") as server:
        pages = {f"/{lang}.html": (TOOLS_PAGE.format(lang=lang, server=server), {}) for lang in ("en", "fr")}
        with shop_site(pages, shop_port) as shop:
            yield server, shop, makeup_index.parent / "catalog" / "images"


def api(server: str, path: str, **params) -> dict:
    with urllib.request.urlopen(f"{server}{path}?{urllib.parse.urlencode(params)}") as response:
        return json.load(response)


def card_ids(page, host: str) -> list[str]:
    return page.locator(f"{host} li.card").evaluate_all("cards => cards.map(card => card.dataset.productId)")


def test_search_drawer_text_filters_and_keyboard(tools):
    server, shop, _ = tools
    with phone_page() as page:
        page.context.add_cookies([{"name": "session", "value": "secret", "url": server}])
        requests = []
        page.on("request", lambda request: requests.append(request))
        page.goto(shop + "/en.html")
        box = page.locator("shoplens-search input[type=search]").first
        box.focus()
        page.keyboard.type("red lipstick")
        page.keyboard.press("Enter")
        drawer = page.locator("shoplens-search dialog")
        expect(drawer).to_be_visible()
        cards = page.locator("shoplens-search li.card")
        expect(cards).to_have_count(6)
        expected = [product["id"] for product in api(server, "/api/v1/search", q="red lipstick", k=6)["results"]]
        assert card_ids(page, "shoplens-search") == expected
        expect(page.locator("shoplens-search [role=status]")).to_have_text("6 results")
        assert drawer.bounding_box()["width"] > 300  # the shop's rules did not squash it

        for _ in range(12):  # modal: Tab cycles inside the drawer, never back to the shop's page
            page.keyboard.press("Tab")
            focus = page.evaluate(ACTIVE_IN_SHADOW, "shoplens-search")
            assert focus is None or focus["inDialog"], focus
            assert page.evaluate("document.activeElement.id") != "shop-link"
        page.keyboard.press("Escape")
        expect(drawer).to_be_hidden()
        assert page.evaluate(ACTIVE_IN_SHADOW, "shoplens-search") == {
            "inDialog": False, "tag": "INPUT", "type": "search", "text": ""}  # focus back where it was

        page.keyboard.press("Enter")  # again, with filters this time
        expect(cards).to_have_count(6)
        page.locator("shoplens-search summary").click()
        page.locator("shoplens-search input[name=max_price]").fill("20")
        page.locator("shoplens-search dialog input[name=q]").press("Enter")
        cheap = [product["id"] for product in
                 api(server, "/api/v1/search", q="red lipstick", k=6, max_price=20)["results"]]
        expect(cards).to_have_count(len(cheap))
        page.wait_for_function("([host, ids]) => JSON.stringify([...document.querySelector(host).shadowRoot"
                               ".querySelectorAll('li.card')].map(card => card.dataset.productId)) === ids",
                               arg=["shoplens-search", json.dumps(cheap, separators=(",", ":"))],
                               timeout=10_000)  # the old cards may be as many

        assert card_ids(page, "shoplens-search") == cheap

        cards.first.locator("button").click()
        cards.first.locator("a").click()
        assert page.evaluate("window.events") == [
            ["shoplens:add-to-cart", {"productId": cheap[0], "variant": None}],
            ["shoplens:select", {"productId": cheap[0], "variant": None, "url": page.evaluate(
                "window.events[1][1].url")}]]
        to_server = [request for request in requests if request.url.startswith(server)]
        assert to_server and all(request.url.startswith((server, shop)) for request in requests)
        assert not any("cookie" in request.headers for request in to_server)  # credentials: "omit"


def test_search_drawer_photo_crop_and_items(tools):
    server, shop, images = tools
    with phone_page() as page:
        page.goto(shop + "/en.html")
        page.locator("shoplens-search input[type=file]").set_input_files(str(images / "lip-plum-night.jpg"))
        drawer = page.locator("shoplens-search dialog")
        expect(drawer).to_be_visible()
        expect(page.locator("shoplens-search li.card").first).to_have_attribute("data-product-id", "lip-plum-night")
        sent = page.evaluate("window.sent.at(-1).fields")
        assert sent == {"image": "<file>", "detect": "true"}

        chips = page.locator("shoplens-search .chips button")
        expect(chips.first).to_have_text("Whole photo")
        assert chips.count() >= 2
        chips.nth(1).click()  # an item found in the photo: outlined, its own products
        expect(chips.nth(1)).to_have_attribute("aria-pressed", "true")
        expect(page.locator("shoplens-search .box")).to_be_visible()

        photo = page.locator("shoplens-search .stage img").bounding_box()
        page.mouse.move(photo["x"] + 0.2 * photo["width"], photo["y"] + 0.2 * photo["height"])
        page.mouse.down()
        page.mouse.move(photo["x"] + 0.7 * photo["width"], photo["y"] + 0.8 * photo["height"], steps=5)
        page.mouse.up()
        expect(page.locator("shoplens-search .bar button", has_text="Whole photo")).to_be_visible()
        expect(page.locator("shoplens-search [role=status]")).to_have_text("6 results")
        sent = page.evaluate("window.sent.at(-1).fields")
        assert set(sent) == {"image", "crop"}
        x, y, w, h = map(int, sent["crop"].split(","))
        with Image.open(images / "lip-plum-night.jpg") as original:
            natural = original.size
        assert (x, y) == pytest.approx((0.2 * natural[0], 0.2 * natural[1]), abs=3)
        assert (w, h) == pytest.approx((0.5 * natural[0], 0.6 * natural[1]), abs=3)

        page.locator("shoplens-search button", has_text="Remove photo").click()
        expect(page.locator("shoplens-search .stage")).to_be_hidden()
        expect(page.locator("shoplens-search [role=status]")).to_contain_text("Take or choose a photo")


def lip_pixels(image: Image.Image, face) -> np.ndarray:
    from vision.regions import index_sets

    sets = index_sets()
    mask = Image.new("L", image.size, 0)
    draw = ImageDraw.Draw(mask)
    draw.polygon([tuple(point) for point in face.landmarks[list(sets["lips_outer"])][:, :2]], fill=255)
    draw.polygon([tuple(point) for point in face.landmarks[list(sets["mouth_opening"])][:, :2]], fill=0)
    return np.asarray(image.convert("RGB"), float)[np.asarray(mask) > 0]


def shown_after(page) -> Image.Image:
    data = page.locator("shoplens-tryon img.after").evaluate("""async (img) => {
        const blob = await (await fetch(img.src)).blob();
        const bytes = new Uint8Array(await blob.arrayBuffer());
        let text = ""; for (const byte of bytes) text += String.fromCharCode(byte);
        return btoa(text);
    }""")
    return Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")


def test_try_on_element_renders_the_shade_on_the_face(tools, tmp_path, landmarker):
    from skimage.color import deltaE_ciede2000, rgb2lab

    from tests.conftest import astronaut, grace_hopper

    server, shop, _ = tools
    selfie = astronaut()
    selfie.save(tmp_path / "selfie.jpg", quality=95)
    with phone_page() as page:
        requests = []
        page.on("request", lambda request: requests.append(request.url))
        page.goto(shop + "/en.html")
        opener = page.locator("shoplens-tryon > button, shoplens-tryon button").first
        expect(opener).to_have_text("Try it on")
        opener.focus()
        page.keyboard.press("Enter")
        dialog = page.locator("shoplens-tryon dialog")
        expect(dialog).to_be_visible()
        expect(page.locator("shoplens-tryon h2")).to_have_text("Try on Velvet Lipstick — Ruby")
        swatches = page.locator("shoplens-tryon .swatch")
        expect(swatches).to_have_count(4)  # the Velvet line: Ruby, Nude Rose, Mauve Mood, Plum Night
        assert sorted(swatches.evaluate_all("s => s.map(b => b.dataset.productId)")) == [
            "lip-mauve", "lip-nude-rose", "lip-plum-night", "lip-ruby-matte"]
        expect(page.locator('shoplens-tryon .swatch[data-product-id="lip-ruby-matte"]')).to_have_attribute(
            "aria-pressed", "true")
        for _ in range(10):  # keyboard only: Tab stays inside the try-on dialog
            page.keyboard.press("Tab")
            focus = page.evaluate(ACTIVE_IN_SHADOW, "shoplens-tryon")
            assert focus is None or focus["inDialog"], focus
            assert page.evaluate("document.activeElement.id") != "shop-link"

        page.locator("shoplens-tryon input[type=file]").last.set_input_files(str(tmp_path / "selfie.jpg"))
        expect(page.locator("shoplens-tryon [role=status]")).to_contain_text("compare")
        after = shown_after(page)
        assert after.size == selfie.size
        face = landmarker.detect(selfie)[0]
        before_lips, after_lips = lip_pixels(selfie, face), lip_pixels(after, face)
        shade = np.array([[[0x9B, 0x1B, 0x30]]], float) / 255
        distance = lambda pixels: float(np.mean(deltaE_ciede2000(rgb2lab(pixels[None] / 255), rgb2lab(shade))))  # noqa: E731
        assert distance(after_lips) < distance(before_lips) - 5  # the lips moved toward the ruby shade
        corner = (slice(0, 60), slice(0, 60))  # sky, far from the face: untouched
        assert np.abs(np.asarray(after, float)[corner] - np.asarray(selfie, float)[corner]).mean() < 3

        expect(page.locator("shoplens-tryon .compare.framed")).to_have_count(1)  # opens on the face...
        page.locator("shoplens-tryon button", has_text="Whole photo").click()  # ...or the whole photo
        page.locator("shoplens-tryon input[type=range]").first.fill("20")  # before/after split
        expect(page.locator("shoplens-tryon img.after")).to_have_css("clip-path", "inset(0px 0px 0px 20%)")

        page.locator('shoplens-tryon .swatch[data-product-id="lip-plum-night"]').click()
        expect(page.locator('shoplens-tryon .swatch[data-product-id="lip-plum-night"]')).to_have_attribute(
            "aria-pressed", "true")
        expect(page.locator("shoplens-tryon [role=status]")).to_contain_text("compare")
        page.locator("shoplens-tryon button", has_text="Add Velvet Lipstick — Plum Night to cart").click()
        assert page.evaluate("window.events") == [
            ["shoplens:add-to-cart", {"productId": "lip-plum-night",  # a shade of the demo's Velvet line
                                      "variant": {"group": "velvet-lipstick", "options": {"Shade": "Plum Night"}}}]]

        portrait = Image.new("RGB", (900, 1600), (70, 90, 110))  # full length: the view opens on the face
        portrait.paste(grace_hopper().resize((170, 200)), (380, 160))
        portrait.save(tmp_path / "standing.jpg", quality=92)
        page.locator("shoplens-tryon input[type=file]").last.set_input_files(str(tmp_path / "standing.jpg"))
        expect(page.locator("shoplens-tryon .compare.framed")).to_have_count(1)
        stage = page.locator("shoplens-tryon .compare").bounding_box()
        assert page.locator("shoplens-tryon img.before").bounding_box()["width"] > 2.5 * stage["width"]
        page.locator("shoplens-tryon button", has_text="Whole photo").click()
        expect(page.locator("shoplens-tryon .compare.framed")).to_have_count(0)

        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        assert page.evaluate(ACTIVE_IN_SHADOW, "shoplens-tryon")["text"] == "Try it on"  # focus returned
        assert page.locator("shoplens-tryon img.after").get_attribute("src") is None  # the photo is dropped
        assert all(url.startswith((server, shop, "blob:")) for url in requests), requests


def test_french_shop_page_and_axe_with_the_drawers_open(tools, tmp_path):
    from tests.conftest import astronaut

    _, shop, images = tools
    astronaut().save(tmp_path / "selfie.jpg", quality=92)
    with phone_page(locale="en-US") as page:  # the page's lang="fr" wins over the browser's English
        page.goto(shop + "/fr.html")
        expect(page.locator("shoplens-tryon button").first).to_have_text("Essayer")
        assert serious(page, OURS) == []
        page.locator("shoplens-search input[type=file]").set_input_files(str(images / "lip-berry.jpg"))
        expect(page.locator("shoplens-search li.card")).to_have_count(6)
        expect(page.locator("shoplens-search [role=status]")).to_have_text("6 résultats")
        page.locator("shoplens-search summary").click()
        assert serious(page, OURS) == []
        page.keyboard.press("Escape")
        page.locator("shoplens-tryon button").first.click()
        expect(page.locator("shoplens-tryon .swatch")).to_have_count(4)
        page.locator("shoplens-tryon input[type=file]").last.set_input_files(str(tmp_path / "selfie.jpg"))
        expect(page.locator("shoplens-tryon [role=status]")).to_contain_text("comparer")
        assert serious(page, OURS) == []
