"""The merchandiser console in a real browser: sign in, re-index with progress, cancel, roll back."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from indexer.runner import IndexJob, run_index
from tests.browser import ARTIFACTS, phone_page, requires_chromium, running_server
from tests.conftest import product_image, write_catalog

pytestmark = [pytest.mark.browser, requires_chromium]
TOKEN = "console-token"


def test_console_reindex_cancel_and_rollback(tmp_path, embedder):
    catalog = write_catalog(tmp_path / "shop", 6)
    with open(catalog, "a") as handle:
        handle.write("bad-1,Broken,images/missing.jpg,shoes,b,1,EUR,,true\n")
    index = tmp_path / "index"
    first = run_index(IndexJob(catalog=catalog, out_dir=index, show_progress=False), embedder).version
    with running_server("--index", str(index), "--catalog", str(catalog), "--batch-size", "1",
                        "--reload-interval", "0", env={"SHOPLENS_ADMIN_TOKEN": TOKEN}) as base:
        with phone_page(width=1000, height=900) as page:
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(base + "/admin")
            page.fill("#token", "wrong")
            page.click("#sign-in button[type=submit]")
            expect(page.locator("#sign-in-status")).to_contain_text("Bearer")
            page.fill("#token", TOKEN)
            page.click("#sign-in button[type=submit]")
            expect(page.locator("#live")).to_contain_text(first)
            expect(page.locator("#skipped")).to_contain_text("image_missing")

            # A quick re-index with a few new products: it finishes and goes live.
            with open(catalog, "a") as handle:
                for i in range(3):
                    product_image(700 + i).save(catalog.parent / "images" / f"q{i}.jpg")
                    handle.write(f"q{i},Quick {i},images/q{i}.jpg,bags,b,5,EUR,,true\n")
            page.click("#reindex")
            expect(page.locator("#history .badge").first).to_have_text("succeeded", timeout=30_000)
            expect(page.locator("#versions tr")).to_have_count(2)
            expect(page.locator("#live")).not_to_contain_text(first)

            # A long one (800 new images, one per forward pass): progress shows, then cancel.
            with open(catalog, "a") as handle:
                for i in range(800):
                    product_image(1000 + i, (48, 48)).save(catalog.parent / "images" / f"c{i}.jpg")
                    handle.write(f"c{i},Long {i},images/c{i}.jpg,bags,b,5,EUR,,true\n")
            page.click("#reindex")
            expect(page.locator("#job-facts")).to_contain_text("images/s", timeout=30_000)
            page.click("#cancel")
            expect(page.locator("#history .badge").first).to_have_text("cancelled", timeout=30_000)
            expect(page.locator("#versions tr")).to_have_count(2)

            # Roll back to the first version.
            page.locator(f'#versions tr[data-version="{first}"] button.rollback').click()
            expect(page.locator("#live")).to_contain_text(first)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "console-1000x900.png"), full_page=True)
            assert not errors, errors
        with phone_page(width=1000, height=900, locale="fr-FR") as page:  # the console speaks French too
            page.goto(base + "/admin")
            expect(page.locator("#sign-in button[type=submit]")).to_have_text("Ouvrir la console")
            page.fill("#token", TOKEN)
            page.click("#sign-in button[type=submit]")
            expect(page.locator("#live-title")).to_have_text("Index en service")
            expect(page.locator(f'#versions tr[data-version="{first}"]')).to_contain_text("(en service)")
            expect(page.locator("#history .badge").first).to_have_text("annulée")
