"""Download catalog images (and feeds) from URLs: bounded, cached, revalidated, and SSRF-safe.

Safety: only http and https; every address a host name resolves to must be public unless the host
or its network is listed in ``allow_hosts``; the connection is then made to that vetted address
(not a second DNS lookup, which could be re-pointed in between), and every redirect hop is vetted
the same way. Thrift: the on-disk cache is keyed by URL and revalidated with ETag/Last-Modified, so
a daily re-index downloads only what changed. Failures become skipped rows, never a crashed run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import ipaddress
import json
import os
import socket
import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence
from urllib.parse import urljoin, urlsplit

from indexer.records import Product, SkippedRow

MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")
REDIRECTS = {301, 302, 303, 307, 308}


class FetchError(Exception):
    """A download that did not produce an image; ``reason`` is the skipped-row reason code."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class FetchConfig:
    cache_dir: Path | None = None  # where ``Fetcher`` keeps downloads; ``download`` keeps nothing
    allow_hosts: tuple[str, ...] = ()
    connect_timeout: float = 5.0
    read_timeout: float = 20.0
    retries: int = 2
    backoff: float = 0.5
    max_bytes: int = 20 * 1024 * 1024
    concurrency: int = 8
    max_redirects: int = 3
    images_only: bool = True
    user_agent: str = "shoplens-indexer/1"


@dataclass
class FetchStats:
    downloaded: int = 0
    not_modified: int = 0
    failed: int = 0
    bytes: int = 0


@dataclass
class _Entry:
    path: Path
    meta: dict = field(default_factory=dict)


def vet_url(url: str, allow_hosts: Sequence[str]) -> tuple[str, int, str, str]:
    """Check ``url`` and resolve its host: returns (scheme, port, host, address to connect to).

    :raise FetchError: download_bad_url or download_refused.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise FetchError("download_refused", f"{scheme or 'no'} scheme in {url!r}: only http and https are fetched")
    host = parts.hostname
    if not host:
        raise FetchError("download_bad_url", f"no host in {url!r}")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (ValueError, OSError) as exc:
        raise FetchError("download_bad_url", f"cannot resolve {host!r}: {exc}") from None
    addresses = [info[4][0] for info in infos]
    for address in addresses:
        if not _allowed(host, address, allow_hosts):
            raise FetchError("download_refused",
                             f"{host} resolves to {address}, a private, loopback, link-local or reserved address "
                             "(list it in --allow-hosts / SHOPLENS_ALLOW_HOSTS to permit it)")
    return scheme, port, host, addresses[0]


def _allowed(host: str, address: str, allow_hosts: Sequence[str]) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    for entry in allow_hosts:
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry == host.lower():
            return True
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_link_local or ip.is_loopback)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self):
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self.address = address

    def connect(self):
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


@dataclass(frozen=True)
class Download:
    body: bytes
    content_type: str  # as the server declared it, lower case, without parameters
    url: str           # after redirects


def download(url: str, config: FetchConfig, accept: str = "*/*") -> Download:
    """One GET into memory, with the same vetting, pinning, redirect and size rules as catalog images; nothing
    is written anywhere (a shopper's link is fetched for one request only).  :raise FetchError:"""
    response, connection, final_url = open_final(url, config, {"Accept": accept})
    try:
        check_status(response, url)
        content_type, body = read_body(response, url, config)
        return Download(body, content_type, final_url)
    finally:
        response.close()
        connection.close()


def looks_like_image(body: bytes) -> bool:
    """Content sniffing: the first bytes of a format the loader reads, whatever the server claimed."""
    return body.startswith(MAGIC) or body[8:12] in (b"WEBP", b"avif", b"heic", b"heix", b"mif1", b"avis")


def open_final(url: str, config: FetchConfig, headers: dict[str, str]):
    """(response, connection, its URL) of the first answer that is not a redirect; every hop is vetted
    again. The caller closes the response and the connection.  :raise FetchError:"""
    current = url
    for _ in range(config.max_redirects + 1):
        response, connection = _request(current, config, headers)
        if response.status not in REDIRECTS:
            return response, connection, current
        location = response.getheader("Location")
        response.close()
        connection.close()
        if not location:
            raise FetchError("download_http_error", f"redirect without a Location from {current}")
        current = urljoin(current, location)
    raise FetchError("download_http_error", f"more than {config.max_redirects} redirects from {url}")


def check_status(response, url: str) -> None:
    """:raise FetchError: for anything but 200."""
    if response.status >= 500:
        raise FetchError("download_server_error", f"HTTP {response.status} from {url}")
    if response.status in (404, 410):
        raise FetchError("download_not_found", f"HTTP {response.status}: {url} does not exist")
    if response.status != 200:
        raise FetchError("download_http_error", f"HTTP {response.status} from {url}")


def read_body(response, url: str, config: FetchConfig) -> tuple[str, bytes]:
    """(declared content type, body), refusing more than ``config.max_bytes``.  :raise FetchError:"""
    content_type = declared_type(response)
    declared = response.getheader("Content-Length")
    if declared and declared.isdigit() and int(declared) > config.max_bytes:
        raise FetchError("download_too_large", f"{url} is {int(declared):,} bytes; the limit is "
                                               f"{config.max_bytes:,}")
    try:
        body = response.read(config.max_bytes + 1)
    except socket.timeout:
        raise FetchError("download_timeout", f"{url} stopped sending") from None
    except (OSError, http.client.HTTPException) as exc:
        raise FetchError("download_failed", f"{url}: {exc}") from None
    if len(body) > config.max_bytes:
        raise FetchError("download_too_large", f"{url} is over the {config.max_bytes:,}-byte limit")
    return content_type, body


def declared_type(response) -> str:
    return (response.getheader("Content-Type") or "").split(";")[0].strip().lower()


def _request(url: str, config: FetchConfig, headers: dict[str, str]):
    scheme, port, host, address = vet_url(url, config.allow_hosts)
    kind = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
    connection = kind(host, port, address, timeout=config.connect_timeout)
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.connect()
        connection.sock.settimeout(config.read_timeout)
        connection.request("GET", target, headers={"User-Agent": config.user_agent, **headers})
        return connection.getresponse(), connection
    except socket.timeout:
        connection.close()
        raise FetchError("download_timeout", f"{url} did not answer in time") from None
    except (OSError, http.client.HTTPException) as exc:
        connection.close()
        raise FetchError("download_failed", f"{url}: {exc}") from None


class Fetcher:
    def __init__(self, config: FetchConfig):
        if config.cache_dir is None:
            raise ValueError("a Fetcher needs a cache_dir")
        self.config = config
        self.stats = FetchStats()

    def fetch(self, url: str) -> Path:
        """The local copy of ``url``, downloaded or revalidated.  :raise FetchError:"""
        entry = self._entry(url)
        attempt = 0
        while True:
            try:
                return self._fetch_once(url, entry)
            except FetchError as exc:
                retryable = exc.reason in ("download_timeout", "download_server_error", "download_failed")
                if not retryable or attempt >= self.config.retries:
                    raise
            attempt += 1
            time.sleep(self.config.backoff * (2 ** (attempt - 1)))

    def localize(self, products: Sequence[Product]) -> tuple[list[Product], list[SkippedRow]]:
        """Replace URL images by local cached files; products whose image cannot be had are skipped."""
        remote = [p for p in products if urlsplit(p.image).scheme in ("http", "https")]
        if not remote:
            return list(products), []
        with ThreadPoolExecutor(max_workers=self.config.concurrency) as pool:
            results = dict(zip((p.id for p in remote), pool.map(self._try_fetch, (p.image for p in remote))))
        kept, skipped = [], []
        for product in products:
            outcome = results.get(product.id)
            if outcome is None:
                kept.append(product)
            elif isinstance(outcome, FetchError):
                self.stats.failed += 1
                skipped.append(SkippedRow(product.line, outcome.reason,
                                          f"line {product.line}: image {product.image}: {outcome}", product.id))
            else:
                kept.append(dataclasses.replace(product, image=str(outcome)))
        return kept, skipped

    def _try_fetch(self, url: str) -> Path | FetchError:
        try:
            return self.fetch(url)
        except FetchError as exc:
            return exc

    def _fetch_once(self, url: str, entry: _Entry) -> Path:
        headers = {"Accept": "image/*" if self.config.images_only else "*/*"}
        if entry.path.exists():  # validators describe the final resource, so every hop carries them
            if entry.meta.get("etag"):
                headers["If-None-Match"] = entry.meta["etag"]
            if entry.meta.get("last_modified"):
                headers["If-Modified-Since"] = entry.meta["last_modified"]
        response, connection, _ = open_final(url, self.config, headers)
        try:
            if response.status == 304 and entry.path.exists():
                self.stats.not_modified += 1
                return entry.path
            check_status(response, url)
            return self._store(url, entry, response)
        finally:
            response.close()  # with "Connection: close" the response, not the connection, owns the socket
            connection.close()

    def _store(self, url: str, entry: _Entry, response) -> Path:
        content_type = declared_type(response)
        if self.config.images_only and not content_type.startswith("image/"):
            raise FetchError("download_wrong_type", f"{url} is {content_type or 'untyped'}, not an image")
        _, body = read_body(response, url, self.config)
        if self.config.images_only and not looks_like_image(body):
            raise FetchError("download_wrong_type", f"{url} claims {content_type} but is not an image")
        entry.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = entry.path.with_suffix(".part")
        temporary.write_bytes(body)
        os.replace(temporary, entry.path)
        meta = {"url": url, "etag": response.getheader("ETag") or "",
                "last_modified": response.getheader("Last-Modified") or "", "content_type": content_type}
        entry.path.with_suffix(".json").write_text(json.dumps(meta))
        self.stats.downloaded += 1
        self.stats.bytes += len(body)
        return entry.path

    def _entry(self, url: str) -> _Entry:
        digest = hashlib.sha256(url.encode()).hexdigest()
        path = self.config.cache_dir / digest[:2] / f"{digest}.bin"
        try:
            meta = json.loads(path.with_suffix(".json").read_text())
        except (OSError, ValueError):
            meta = {}
        return _Entry(path, meta)
