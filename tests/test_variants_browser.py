"""Variants in a real browser: a result card switches between its colours, and the try-on tab shows a lipstick
line as one product whose shades the shopper swipes through."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from indexer.runner import IndexJob, run_index
from tests.browser import phone_page, requires_chromium, running_server
from tests.test_variants import write_variant_shop

pytestmark = [pytest.mark.browser, requires_chromium]


@pytest.fixture(scope="module")
def variant_server(tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp("variant-browser")
    run_index(IndexJob(catalog=write_variant_shop(root / "shop"), out_dir=root / "index", show_progress=False),
              embedder)
    with running_server("--index", str(root / "index"), "--reload-interval", "0") as base:
        yield base, root / "shop"


def collect_errors(page) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return errors


def test_a_result_card_switches_to_another_colour(variant_server):
    base, shop = variant_server
    with phone_page() as page:
        errors = collect_errors(page)
        page.goto(base + "/")
        page.set_input_files("#photo-file", str(shop / "images" / "dress-blue.jpg"))
        card = page.locator('#results li.card[data-product-id="dress-blue"]')
        expect(card).to_have_count(1)
        expect(card.locator(".options")).to_have_text("blue · M")
        chips = card.locator(".variants .variant")
        expect(chips).to_have_count(2)
        expect(card.locator('.variant[data-variant-id="dress-green"]')).to_have_class("variant sold-out")
        card.locator('.variant[data-variant-id="dress-red"]').click()
        red = page.locator('#results li.card[data-product-id="dress-red"]')
        expect(red).to_have_count(1)
        expect(red.locator("img")).to_have_attribute("src", "/catalog/images/dress-red?size=384")
        expect(red.locator(".price")).to_contain_text("59")
        expect(red.locator('.variant[data-variant-id="dress-blue"]')).to_be_focused()  # the way back
        assert page.locator('#results li.card[data-product-id="dress-blue"]').count() == 0
        assert not errors, errors


def test_try_on_swipes_through_the_shades_of_one_line(variant_server):
    base, _ = variant_server
    with phone_page() as page:
        errors = collect_errors(page)
        page.goto(base + "/")
        page.click("#tab-tryon")
        line = page.locator('.shade-line[data-group="velvet"]')
        expect(line).to_have_count(1)
        expect(line.locator(".line-name")).to_have_text("Velvet lipstick · 3 shades")
        expect(line.locator(".swatch")).to_have_count(3)
        line.locator('.swatch[data-product-id="lip-ruby"]').click()
        expect(line.locator('.swatch[data-product-id="lip-ruby"]')).to_have_attribute("aria-pressed", "true")
        applied = page.locator("#applied-list li.line")
        expect(applied).to_contain_text("Ruby")
        applied.locator('button[aria-label="Next shade"]').click()
        expect(line.locator('.swatch[data-product-id="lip-rose"]')).to_have_attribute("aria-pressed", "true")
        expect(line.locator('.swatch[data-product-id="lip-ruby"]')).to_have_attribute("aria-pressed", "false")
        box = page.locator("#applied-list li.line .name").bounding_box()
        y = box["y"] + box["height"] / 2
        page.mouse.move(box["x"] + box["width"] - 5, y)  # swipe left: the next shade
        page.mouse.down()
        page.mouse.move(box["x"] + 5, y, steps=5)
        page.mouse.up()
        expect(line.locator('.swatch[data-product-id="lip-plum"]')).to_have_attribute("aria-pressed", "true")
        expect(page.locator("#applied-list li")).to_have_count(1)  # one lipstick at a time, as on a face
        page.locator('#applied-list li.line button[aria-label="Previous shade"]').click()
        expect(line.locator('.swatch[data-product-id="lip-rose"]')).to_have_attribute("aria-pressed", "true")
        assert not errors, errors
