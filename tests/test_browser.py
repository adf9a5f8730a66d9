"""End to end in a real browser: photo search, text search, "more like this", on a phone-sized screen."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser import ARTIFACTS, phone_page, requires_chromium, running_server
from tests.busy_scenes import scene

pytestmark = [pytest.mark.browser, requires_chromium]


@pytest.fixture(scope="module")
def server(shop_index):
    with running_server("--index", str(shop_index), "--reload-interval", "0") as base:
        yield base


def test_photo_text_and_more_like_this(server, shop_index):
    photo = shop_index.parent / "catalog" / "images" / "p006.jpg"
    with phone_page() as page:
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.goto(server + "/")
        page.set_input_files("#photo-file", str(photo))
        page.wait_for_selector("#results li.card")
        first = page.locator("#results li.card").first
        assert first.get_attribute("data-product-id") == "p006"
        assert page.locator("#results li.card").count() == 20
        expect(page.locator("#status")).to_have_text("20 results")
        first.locator("img").scroll_into_view_if_needed()
        expect(first.locator("img")).to_have_js_property("complete", True)
        assert first.locator("img").evaluate("img => img.naturalWidth") > 0

        page.click("#clear-photo")
        page.fill("#query", "striped bag")
        page.click("#search-button")
        expect(page.locator("#status")).to_have_text("20 results")
        assert page.locator("#results li.card").count() == 20

        target = page.locator("#results li.card").nth(2)
        clicked_id = target.get_attribute("data-product-id")
        target.locator("button.more-like-this").click()
        expect(page.locator(f'#results li.card[data-product-id="{clicked_id}"]')).to_have_count(0)
        expect(page.locator("#status")).to_have_text("20 results")
        assert page.locator("#results li.card").count() == 20
        page.evaluate("() => window.scrollTo(0, 0)")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "search-390x844.png"))
        assert not errors, errors


def test_for_you_row_follows_the_history_kept_in_the_browser(server):
    with phone_page() as page:
        errors: list[str] = []
        recommend_bodies: list[dict] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("request", lambda request: recommend_bodies.append(request.post_data_json)
                if request.url.endswith("/api/v1/recommend") else None)
        page.goto(server + "/")
        page.fill("#query", "striped bag")
        page.click("#search-button")
        expect(page.locator("#status")).to_have_text("20 results")
        expect(page.locator("#for-you")).to_be_hidden()
        assert recommend_bodies == []  # no history, nothing sent

        browsed, rows = [], []
        for step in range(3):
            card = page.locator("#results li.card").nth(step)
            browsed.append(card.get_attribute("data-product-id"))
            card.locator("button.more-like-this").click()
            expect(page.locator(f'#results li.card[data-product-id="{browsed[-1]}"]')).to_have_count(0)
            expect(page.locator("#for-you-because")).to_contain_text(page.evaluate(
                "id => JSON.parse(localStorage.getItem('shoplens.history.v1'))[0].title", browsed[-1]))
            expect(page.locator("#for-you-row li.card")).to_have_count(8)
            rows.append(page.locator("#for-you-row li.card").evaluate_all(
                "cards => cards.map(card => card.dataset.productId)"))
            assert not set(rows[-1]) & set(browsed)
        assert rows[0] != rows[2]
        assert set(recommend_bodies[-1]["positive"]) == set(browsed)
        page.locator("#for-you").scroll_into_view_if_needed()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "for-you-390x844.png"))
        assert page.context.cookies() == []

        rejected = rows[2][0]
        page.locator(f'#for-you-row li.card[data-product-id="{rejected}"] button.not-for-me').click()
        expect(page.locator(f'#for-you-row li.card[data-product-id="{rejected}"]')).to_have_count(0)
        assert recommend_bodies[-1]["negative"] == [rejected]

        page.click("#for-you-clear")
        expect(page.locator("#for-you")).to_be_hidden()
        assert page.evaluate("() => Object.keys(localStorage).filter(key => key.startsWith('shoplens.'))") == []
        sent = len(recommend_bodies)
        page.reload()
        expect(page.locator("#search-button")).to_be_enabled()
        expect(page.locator("#for-you")).to_be_hidden()
        assert len(recommend_bodies) == sent
        assert not errors, errors


def test_error_state_is_shown(server, tmp_path):
    bogus = tmp_path / "not-a-photo.jpg"
    bogus.write_bytes(b"%PDF-1.4 definitely a pdf")
    with phone_page() as page:
        page.goto(server + "/")
        page.set_input_files("#photo-file", str(bogus))
        expect(page.locator("#status.error")).to_contain_text("supported image")


@pytest.fixture(scope="module")
def makeup_server(makeup_index):
    with running_server("--index", str(makeup_index), "--reload-interval", "0") as base:
        yield base


def test_try_on_a_lipstick_with_before_after(makeup_server, tmp_path):
    from tests.conftest import astronaut

    selfie = tmp_path / "selfie.jpg"
    astronaut().save(selfie, quality=92)
    with phone_page() as page:
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.goto(makeup_server + "/")
        page.click("#tab-tryon")
        expect(page.locator("#panel-tryon")).to_be_visible()
        expect(page.locator(".notice")).to_contain_text("never stored")
        page.set_input_files("#selfie-file", str(selfie))
        swatch = page.locator('.swatch[data-product-id="lip-classic-red"]')
        swatch.click()
        expect(swatch).to_have_attribute("aria-pressed", "true")
        expect(page.locator("#tryon-status")).to_contain_text("compare")
        after = page.locator("#after-img")
        assert after.get_attribute("src").startswith("blob:")
        assert after.evaluate("img => img.naturalWidth") == 512
        expect(page.locator("#applied-list a.buy")).to_have_attribute(
            "href", "https://shop.example/products/lip-classic-red")

        expect(page.locator("#compare-stage.framed")).to_have_count(1)  # the face is small in this photo
        page.click("#frame-toggle")  # whole photo: the slider's value is the split's place in the picture
        expect(page.locator("#compare-stage.framed")).to_have_count(0)
        page.locator("#compare-slider").fill("20")
        expect(after).to_have_css("clip-path", "inset(0px 0px 0px 20%)")
        page.locator("#compare-slider").fill("80")
        expect(after).to_have_css("clip-path", "inset(0px 0px 0px 80%)")

        page.locator('.swatch[data-product-id="shadow-navy"]').click()
        expect(page.locator("#applied-list li")).to_have_count(2)
        expect(page.locator("#tryon-status")).to_contain_text("compare")
        page.locator("#compare-slider").fill("50")
        page.evaluate("() => window.scrollTo(0, 0)")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "tryon-390x844.png"))
        assert not errors, errors


def test_try_on_opens_on_the_face_of_a_full_length_photo(makeup_server, tmp_path, landmarker):
    from PIL import Image

    from tests.conftest import grace_hopper

    portrait = Image.new("RGB", (900, 1600), (70, 90, 110))  # a standing figure: the face is small
    portrait.paste(grace_hopper().resize((170, 200)), (380, 160))
    photo = tmp_path / "full-length.jpg"
    portrait.save(photo, quality=92)
    face = landmarker.detect(portrait)[0].box
    with phone_page() as page:
        page.goto(makeup_server + "/")
        page.click("#tab-tryon")
        page.set_input_files("#selfie-file", str(photo))
        page.locator('.swatch[data-product-id="lip-classic-red"]').click()
        expect(page.locator("#compare-stage.framed")).to_have_count(1)
        stage = page.locator("#compare-stage").bounding_box()
        before = page.locator("#before-img").bounding_box()
        scale = before["width"] / portrait.width
        assert before["width"] > 2.5 * stage["width"]  # zoomed in
        centre_x = before["x"] + (face.x + face.width / 2) * scale
        centre_y = before["y"] + (face.y + face.height / 2) * scale
        assert stage["x"] < centre_x < stage["x"] + stage["width"]
        assert stage["y"] < centre_y < stage["y"] + stage["height"]
        assert face.width * scale > 0.25 * stage["width"]  # the face fills a good part of the view
        page.locator("#compare-slider").fill("50")
        clip = float(page.locator("#after-img").evaluate("img => img.style.clipPath").split()[-1].rstrip("%)"))
        split_x = before["x"] + clip / 100 * before["width"]
        assert split_x == pytest.approx(stage["x"] + stage["width"] / 2, abs=2)  # the split is mid-view
        ARTIFACTS.mkdir(exist_ok=True)
        page.evaluate("() => window.scrollTo(0, 0)")
        page.screenshot(path=str(ARTIFACTS / "tryon-full-length-390x844.png"))
        page.click("#frame-toggle")
        expect(page.locator("#compare-stage.framed")).to_have_count(0)
        whole = page.locator("#before-img").bounding_box()
        assert whole["width"] == pytest.approx(page.locator("#compare-stage").bounding_box()["width"], abs=1)
        expect(page.locator("#frame-toggle")).to_have_text("Zoom to the face")


def test_your_shade_and_find_this_lipstick(makeup_server, tmp_path, landmarker):
    import numpy as np
    from PIL import Image

    from tests.conftest import grace_hopper
    from vision.looks import Layer
    from vision.makeup import render_look

    selfie = tmp_path / "selfie.jpg"
    grace_hopper().save(selfie, quality=92)
    face = landmarker.detect(grace_hopper())[0]
    wearing = tmp_path / "wearing.png"
    Image.fromarray(render_look(np.asarray(grace_hopper()), [face],
                                [Layer.of("lipstick", "#7B2D43", "satin")])).save(wearing)
    with phone_page() as page:
        page.goto(makeup_server + "/")
        page.click("#tab-tryon")
        page.set_input_files("#selfie-file", str(selfie))
        expect(page.locator("#your-shade")).to_be_visible()
        expect(page.locator("#skin-facts")).to_contain_text("Monk scale")
        matches = page.locator("#foundation-matches .swatch")
        expect(matches).to_have_count(3)
        expect(matches.first).to_contain_text("closest match")
        matches.first.click()
        expect(page.locator("#applied-list li")).to_have_count(1)
        expect(page.locator("#tryon-status")).to_contain_text("compare")

        page.set_input_files("#lip-photo", str(wearing))
        expect(page.locator("#lip-result")).to_be_visible()
        expect(page.locator("#lip-matches .swatch").first).to_have_attribute("data-product-id", "lip-berry")
        page.locator("#find-lipstick-title").scroll_into_view_if_needed()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "shades-390x844.png"))


@pytest.mark.parametrize("width", [360, 1280])
def test_no_horizontal_overflow(server, shop_index, width):
    with phone_page(width=width, height=800) as page:
        page.goto(server + "/")
        page.set_input_files("#photo-file", str(shop_index.parent / "catalog" / "images" / "p002.jpg"))
        expect(page.locator("#status")).to_have_text("20 results")
        assert page.evaluate("() => document.documentElement.scrollWidth") <= width
        page.click("#tab-tryon")
        assert page.evaluate("() => document.documentElement.scrollWidth") <= width


def test_api_docs_page_renders_from_our_server_only(server):
    """Swagger UI, its assets and the document all come from this server, under its strict CSP."""
    with phone_page(1280, 900) as page:
        errors: list[str] = []
        elsewhere: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("request", lambda request: None if request.url.startswith(server) or request.url.startswith("data:")
                else elsewhere.append(request.url))
        page.goto(server + "/api/v1/docs")
        operations = page.locator(".opblock")
        expect(operations.first).to_be_visible(timeout=20_000)
        assert operations.count() >= 15
        expect(page.locator(".opblock-summary-path", has_text="/api/v1/search").first).to_be_visible()
        expect(page.locator(".opblock-tag", has_text="try-on")).to_be_visible()
        assert not elsewhere, elsewhere
        assert not errors, errors


@pytest.fixture(scope="module")
def look_server(shop_index):
    # random weights rank nothing, so every candidate box counts as an item here
    with running_server("--index", str(shop_index), "--reload-interval", "0", "--item-min-gain", "-2") as base:
        yield base


def test_shop_the_look_dots_show_each_items_results(look_server, tmp_path):
    photo = tmp_path / "scene.jpg"
    scene(21, 40).image.save(photo, "JPEG", quality=90)
    with phone_page() as page:
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(look_server + "/")
        with page.expect_response(lambda response: "/api/v1/search" in response.url) as answer:
            page.set_input_files("#photo-file", str(photo))
        body = answer.value.json()
        assert body["items"]
        dots = page.locator("#look-dots button.look-dot")
        expect(dots).to_have_count(len(body["items"]))
        expect(page.locator("#results li.card").first).to_have_attribute("data-product-id", body["results"][0]["id"])

        last = len(body["items"]) - 1
        item = body["items"][last]
        x, y, w, h = item["box"]
        centre = dots.nth(last).evaluate("dot => [parseFloat(dot.style.left), parseFloat(dot.style.top)]")
        assert centre == pytest.approx([(x + w / 2) / 640 * 100, (y + h / 2) / 480 * 100], abs=0.01)
        dots.nth(last).click()
        expect(dots.nth(last)).to_have_attribute("aria-pressed", "true")
        shown = page.locator("#results li.card").evaluate_all("cards => cards.map(card => card.dataset.productId)")
        assert shown == [hit["id"] for hit in item["results"]]
        expect(page.locator("#status")).to_contain_text(f"Item {last + 1} of {len(body['items'])}")
        expect(page.locator("#crop-box")).to_be_visible()

        page.click("#whole-photo")
        expect(page.locator("#results li.card").first).to_have_attribute("data-product-id", body["results"][0]["id"])
        expect(page.locator("#crop-box")).to_be_hidden()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "shop-the-look-390x844.png"))
        assert not errors, errors


def test_the_page_speaks_french_to_a_french_browser(makeup_server):
    with phone_page(locale="fr-FR") as page:
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(makeup_server + "/")
        assert page.evaluate("document.documentElement.lang") == "fr"
        expect(page.locator("#tab-search")).to_have_text("Rechercher")
        expect(page.locator("#query")).to_have_attribute("placeholder", "Décrivez-le, ou collez un lien ou une image")
        page.fill("#query", "rouge à lèvres")
        page.click("#search-button")
        expect(page.locator("#status")).to_have_text(re.compile(r"^\d+ résultats$"))
        price = page.locator("#results li.card .price").first.text_content()
        assert re.fullmatch(r"\d+,\d\d\s€", price), price  # "24,00 €": French digits, the euro after
        expect(page.locator("#results li.card").first.locator("button.more-like-this")).to_have_text(
            "Produits similaires")
        page.click("#tab-tryon")
        expect(page.locator(".notice")).to_contain_text("jamais conservé")
        expect(page.locator("#swatches h2").first).to_have_text("Rouge à lèvres")
        assert not errors, errors
    with phone_page(locale="fr-FR") as page:  # ?lang= wins over the browser
        page.goto(makeup_server + "/?lang=en")
        expect(page.locator("#tab-search")).to_have_text("Search")
    with phone_page() as page:
        page.goto(makeup_server + "/?lang=fr")
        expect(page.locator("#tab-tryon")).to_have_text("Essayer")
        page.goto(makeup_server + "/")
        expect(page.locator("#tab-tryon")).to_have_text("Try on")
