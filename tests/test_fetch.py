"""Catalog images at URLs: every failure family becomes its skipped-row reason, good images are
indexed, a second run downloads nothing new, and SSRF attempts are refused before any connection."""

from __future__ import annotations

import pytest

from indexer.runner import IndexJob, run_index
from indexer.sources.catalog import read_catalog
from indexer.sources.fetch import FetchConfig, Fetcher, FetchError, vet_url
from indexer.stores.index_store import IndexStore
from tests.image_server import serving
from vision.images import ImageLimits

CASES = {
    "good-0": ("/img/0.jpg", None),
    "good-1": ("/img/1.jpg", None),
    "moved": ("/moved.jpg", None),
    "flaky": ("/flaky.jpg", None),                      # 503 twice, then 200: retried with backoff
    "slow": ("/slow.jpg", "download_timeout"),
    "missing": ("/missing.jpg", "download_not_found"),
    "broken": ("/broken.jpg", "download_server_error"),
    "huge": ("/huge.jpg", "download_too_large"),
    "html": ("/page.html", "download_wrong_type"),
    "liar": ("/liar.jpg", "download_wrong_type"),
    "to-metadata": ("/to-metadata.jpg", "download_refused"),
    "to-file": ("/to-file.jpg", "download_refused"),
    "loop": ("/loop.jpg", "download_http_error"),
}


def write_url_catalog(folder, base, extra_rows=()):
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["id,title,image"] + [f"{name},Item {name},{base}{path}" for name, (path, _) in CASES.items()]
    lines += list(extra_rows)
    (folder / "catalog.csv").write_text("\n".join(lines) + "\n")
    return folder / "catalog.csv"


def url_job(catalog, out, **kw):
    return IndexJob(catalog=catalog, out_dir=out, show_progress=False, allow_hosts=("127.0.0.1",),
                    download_timeout=1.0, download_backoff=0.05, limits=ImageLimits(max_bytes=2_000_000), **kw)


def test_url_images_end_to_end(tmp_path, embedder):
    with serving() as server:
        catalog = write_url_catalog(tmp_path / "shop", server.base, extra_rows=[
            "file-scheme,Local file,file:///etc/passwd", "ftp-scheme,FTP,ftp://127.0.0.1/x.jpg"])
        report = run_index(url_job(catalog, tmp_path / "index"), embedder)
        reasons = {row.product_id: row.reason for row in report.skipped}
        for name, (_, expected) in CASES.items():
            assert reasons.get(name) == expected, (name, reasons.get(name))
        assert reasons["file-scheme"] == reasons["ftp-scheme"] == "image_url_scheme"
        store = IndexStore.open(tmp_path / "index")
        assert {p.id for p in store.live.products} == {"good-0", "good-1", "moved", "flaky"}
        assert report.downloaded == 4
        indexed_paths = ("/img/0.jpg", "/img/1.jpg", "/img/2.jpg", "/flaky.jpg")
        served_before = {path: server.bodies_served[path] for path in indexed_paths}

        second = run_index(url_job(catalog, tmp_path / "index"), embedder)
        assert second.downloaded == 0 and second.not_modified == 4
        assert {path: server.bodies_served[path] for path in indexed_paths} == served_before  # revalidated only
        assert second.embedded == 0 and second.reused == 4


def test_private_addresses_are_refused_without_traffic(tmp_path):
    fetcher = Fetcher(FetchConfig(cache_dir=tmp_path))
    for url in ("http://127.0.0.1:9/x.jpg", "http://localhost/x.jpg", "http://10.1.2.3/x.jpg",
                "http://192.168.0.10/x.jpg", "http://172.16.5.4/x.jpg", "http://169.254.169.254/latest/meta-data/",
                "http://[::1]/x.jpg", "http://[::ffff:127.0.0.1]/x.jpg", "http://0.0.0.0/x.jpg"):
        with pytest.raises(FetchError) as error:
            vet_url(url, ())
        assert error.value.reason == "download_refused", url
        with pytest.raises(FetchError):
            fetcher.fetch(url)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/a.jpg", "gopher://x/", "javascript:alert(1)",
                                 "data:image/png;base64,AAAA"])
def test_non_http_schemes_are_refused(url):
    with pytest.raises(FetchError) as error:
        vet_url(url, ())
    assert error.value.reason == "download_refused"


def test_allow_hosts_accepts_hosts_and_networks():
    assert vet_url("http://127.0.0.1:8080/a.jpg", ("127.0.0.1",))[3] == "127.0.0.1"
    assert vet_url("http://10.1.2.3/a.jpg", ("10.0.0.0/8",))[3] == "10.1.2.3"
    with pytest.raises(FetchError):
        vet_url("http://10.1.2.3/a.jpg", ("192.168.0.0/16",))


def test_redirect_to_a_private_address_is_refused(tmp_path):
    with serving() as server:
        fetcher = Fetcher(FetchConfig(cache_dir=tmp_path, allow_hosts=("127.0.0.1",)))
        with pytest.raises(FetchError) as error:
            fetcher.fetch(server.base + "/to-metadata.jpg")
        assert error.value.reason == "download_refused"
        assert fetcher.fetch(server.base + "/moved.jpg").read_bytes() == server.images["/img/2.jpg"]


def test_feed_url_is_downloaded_and_parsed(tmp_path, embedder):
    with serving() as server:
        server.feeds["/feeds/catalog.csv"] = (
            "id,title,image\n" + "\n".join(f"p{i},Item {i},{server.base}/img/{i}.jpg" for i in range(3))).encode()
        report = run_index(url_job(server.base + "/feeds/catalog.csv", tmp_path / "index"), embedder)
        assert report.products == 3
        with pytest.raises(Exception, match="Cannot download the catalog feed"):
            run_index(url_job(server.base + "/feeds/nope.csv", tmp_path / "index"), embedder)


def test_url_rows_parse_without_touching_the_network(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("id,title,image\na,A,https://cdn.example/a.jpg\nb,B,file:///etc/passwd\n")
    catalog = read_catalog(path)
    assert catalog.products[0].image == "https://cdn.example/a.jpg"
    assert catalog.skipped[0].reason == "image_url_scheme"
