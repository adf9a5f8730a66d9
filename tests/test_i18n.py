"""The page in the shopper's language: catalogs complete and consistent, every key the page uses defined."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from app.webapp import LANGUAGES

STATIC = Path(__file__).resolve().parent.parent / "static"
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def catalog(language: str) -> dict[str, str]:
    return json.loads((STATIC / "messages" / f"{language}.json").read_text(encoding="utf-8"))


def keys_used_by_the_page() -> set[str]:
    html = "".join((STATIC / page).read_text(encoding="utf-8") for page in ("index.html", "admin.html"))
    used = set(re.findall(r'data-i18n="([^"]+)"', html))
    for pairs in re.findall(r'data-i18n-attr="([^"]+)"', html):
        used |= {pair.split("=")[1] for pair in pairs.split(";")}
    for script in ("app.js", "foryou.js", "tryon.js", "live.js", "i18n.js", "admin.js", "embed/shoplens.js",
                   "shared/i18n-core.js"):
        used |= set(re.findall(r'\bt\((?:\w+, )?"([a-z_.]+)"', (STATIC / script).read_text(encoding="utf-8")))
    return used


def test_every_key_the_page_uses_is_in_the_english_catalog():
    english = catalog("en")
    plural = {key.rsplit(".", 1)[0] for key in english if key.endswith((".one", ".other"))}
    missing = sorted(key for key in keys_used_by_the_page() if key not in english and key not in plural)
    assert not missing, missing
    assert len(keys_used_by_the_page()) > 100


@pytest.mark.parametrize("language", [language for language in LANGUAGES if language != "en"])
def test_each_catalog_translates_every_english_message_with_the_same_placeholders(language):
    english, other = catalog("en"), catalog(language)
    assert sorted(set(english) - set(other)) == []
    assert all(key.startswith("error.") for key in set(other) - set(english))  # English shows the server's text
    for key, text in english.items():
        assert set(PLACEHOLDER.findall(other[key])) == set(PLACEHOLDER.findall(text)), key
        assert other[key].strip(), key


def test_french_speaks_french():
    french = catalog("fr")
    assert french["tab.search"] == "Rechercher" and french["status.results.other"] == "{count} résultats"
    assert french["quote"] == "« {text} »"


def test_the_catalogs_are_served_as_one_cacheable_script(client):
    response = client.get("/i18n/messages.js")
    assert response.status_code == 200 and response.mimetype == "text/javascript"
    body = response.get_data(as_text=True)
    assert body.startswith("window.SHOPLENS_MESSAGES = ")
    served = json.loads(body.removeprefix("window.SHOPLENS_MESSAGES = ").rstrip().rstrip(";"))
    assert set(served) == set(LANGUAGES) and served["fr"] == catalog("fr")
    assert "max-age" in response.headers["Cache-Control"] and response.headers["ETag"]
    again = client.get("/i18n/messages.js", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


@pytest.mark.parametrize("name", ["i18n-core", "face-frame"])
def test_shared_pieces_are_served_to_our_pages_and_written_into_the_embed_script(client, name):
    """One definition for the page and the storefront components (no second hand-kept copy)."""
    piece = (STATIC / "shared" / f"{name}.js").read_text(encoding="utf-8").strip()
    page = client.get(f"/common/{name}.js")
    assert page.status_code == 200 and page.mimetype == "text/javascript" and page.headers["ETag"]
    assert page.get_data(as_text=True).endswith(f'window.shoplensShared["{name}"] = {piece};\n')
    embed = client.get("/embed/shoplens.js").get_data(as_text=True)
    assert piece in embed and "/*shared:" not in embed


def test_an_unknown_shared_piece_is_a_json_404(client):
    response = client.get("/common/nothing.js")
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
