"""axe-core's rules on the shopper page (both tabs, with results) and the console: nothing serious or critical."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.browser import phone_page, requires_chromium, running_server
from tests.busy_scenes import scene
from tests.conftest import astronaut

pytestmark = [pytest.mark.browser, requires_chromium]
TOKEN = "axe-token"


def serious(page, context: dict | None = None) -> list[str]:
    """``context``: axe's include/exclude, to judge only some elements of a page (ours in a shop's page)."""
    results = Axe().run(page, context=context)
    return [f"{violation['id']} ({violation['impact']}): {violation['help']} — "
            f"{[node['target'] for node in violation['nodes']][:3]}"
            for violation in results.response["violations"] if violation["impact"] in ("serious", "critical")]


@pytest.fixture(scope="module")
def server(makeup_index):
    with running_server("--index", str(makeup_index), "--reload-interval", "0", "--item-min-gain", "-2",
                        env={"SHOPLENS_ADMIN_TOKEN": TOKEN}) as base:
        yield base


@pytest.mark.parametrize("locale", ["en-US", "fr-FR"])
def test_the_shopper_page_has_no_serious_violations(server, tmp_path, locale):
    photo, selfie = tmp_path / "scene.jpg", tmp_path / "selfie.jpg"
    scene(5, 40).image.save(photo, quality=90)
    astronaut().save(selfie, quality=92)
    with phone_page(locale=locale) as page:
        page.goto(server + "/")
        assert serious(page) == []
        page.set_input_files("#photo-file", str(photo))
        expect(page.locator("#look-dots button.look-dot").first).to_be_visible()
        page.locator("#look-dots button.look-dot").first.click()
        page.locator("details.filters summary").click()
        assert serious(page) == []
        page.click("#tab-tryon")
        page.set_input_files("#selfie-file", str(selfie))
        page.locator(".swatch").first.click()
        expect(page.locator("#frame-toggle")).to_be_visible()
        assert serious(page) == []


def test_the_console_has_no_serious_violations(server):
    with phone_page(width=1000, height=900) as page:
        page.goto(server + "/admin")
        assert serious(page) == []
        page.fill("#token", TOKEN)
        page.click("#sign-in button[type=submit]")
        expect(page.locator("#versions tr")).to_have_count(1)
        assert serious(page) == []


def test_the_check_catches_a_serious_violation():
    with phone_page() as page:
        page.set_content('<html lang="en"><title>t</title><main><button></button><img src="x.png"></main></html>')
        found = serious(page)
        assert any(item.startswith("button-name") for item in found) and any(item.startswith("image-alt")
                                                                            for item in found)
