"""A photo named by a link instead of uploaded: an image URL, or a web page (another shop's product page, a
post) whose ``og:image`` / ``twitter:image`` names the picture.

Fetched with the indexer's SSRF-safe downloader (public addresses only unless SHOPLENS_ALLOW_HOSTS lists
them, every redirect vetted, the connection pinned to the vetted address), in memory only: nothing fetched
is written, cached or logged. The Open Graph protocol (https://ogp.me/) and X's summary cards
(``twitter:image``) are the two ways pages name their picture for link previews.
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from app.errors import ApiError
from indexer.sources.fetch import FetchConfig, FetchError, download, looks_like_image

# In order of preference; og:image:secure_url is the https twin of og:image.
PREVIEW_IMAGE_KEYS = ("og:image:secure_url", "og:image", "og:image:url", "twitter:image", "twitter:image:src")
MAX_PAGE_BYTES = 2 * 1024 * 1024  # a page is read this far for its meta tags (they belong in <head>)


def fetch_linked_image(url: str, config: FetchConfig) -> bytes:
    """The picture ``url`` names, as bytes for the one safe image loader.

    :raise ApiError: image_url_refused, image_url_unreachable, image_url_not_an_image, image_too_large.
    """
    _check_address_shape(url)
    got = _get(url, config, "image/*,text/html;q=0.9,*/*;q=0.5")
    if looks_like_image(got.body):
        return got.body
    if not _is_html(got.content_type, got.body):
        raise ApiError("image_url_not_an_image", "That link is neither a picture nor a web page with one "
                                                 f"(it is {got.content_type or 'an unknown kind of file'}).")
    named = preview_image(got.body[:MAX_PAGE_BYTES].decode("utf-8", "replace"))
    if named is None:
        raise ApiError("image_url_not_an_image", "That page names no picture for sharing (no og:image or "
                                                 "twitter:image): open the picture itself and copy its address.")
    try:
        image_url = urljoin(got.url, named)
    except ValueError:  # a malformed address in the page (e.g. an unclosed "[" of an IPv6 host)
        raise ApiError("image_url_not_an_image", "The picture that page names has an address we cannot read.") from None
    _check_address_shape(image_url)
    picture = _get(image_url, config, "image/*")
    if not looks_like_image(picture.body):
        raise ApiError("image_url_not_an_image", "The picture that page names is not an image we can read.")
    return picture.body


def preview_image(html: str) -> str | None:
    """The page's preview picture (``og:image`` first, then ``twitter:image``), as written in the page."""
    finder = _MetaImages()
    try:
        finder.feed(html)
        finder.close()
    except (AssertionError, ValueError):  # html.parser gives up on some broken markup: use what it found
        pass
    for key in PREVIEW_IMAGE_KEYS:
        if finder.found.get(key):
            return finder.found[key]
    return None


class _MetaImages(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "meta":
            return
        values = {name.lower(): (value or "").strip() for name, value in attrs}
        key = (values.get("property") or values.get("name") or "").lower()
        if key in PREVIEW_IMAGE_KEYS and values.get("content"):
            self.found.setdefault(key, values["content"])


def _check_address_shape(url: str) -> None:
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # urllib refuses some malformed addresses outright ("http://[à" is an invalid IPv6 host)
        raise ApiError("image_url_refused", "That is not a web address we can read.") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ApiError("image_url_refused", "Only web addresses (http:// or https://) can be searched by link.")


def _get(url: str, config: FetchConfig, accept: str):
    try:
        return download(url, config, accept)
    except FetchError as error:
        raise _api_error(error) from None


def _api_error(error: FetchError) -> ApiError:
    """A shopper-sized message per failure; the address itself is not repeated (it may be long or private)."""
    if error.reason == "download_refused":
        return ApiError("image_url_refused", "That address is not on the public internet (or its kind of link "
                                             "is not allowed), so we cannot fetch it.")
    if error.reason == "download_too_large":
        return ApiError("image_too_large", "The picture at that link is larger than the upload limit.")
    if error.reason == "download_timeout":
        return ApiError("image_url_unreachable", "The site behind that link took too long to answer; try again or "
                                                 "upload the picture.")
    if error.reason == "download_bad_url":
        return ApiError("image_url_unreachable", "That site cannot be found (check the address).")
    if error.reason == "download_not_found":
        return ApiError("image_url_unreachable", "Nothing is at that address any more (404).")
    return ApiError("image_url_unreachable", "The site behind that link did not give us the picture; try again "
                                             "or upload it.")


def _is_html(content_type: str, body: bytes) -> bool:
    if content_type in ("text/html", "application/xhtml+xml"):
        return True
    start = body[:512].lstrip().lower()
    return start.startswith((b"<!doctype html", b"<html", b"<head", b"<meta"))
