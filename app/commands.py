"""What each ``shoplens`` subcommand does, given the settings the command line resolved.

Known failures (missing weights, a bad catalog, a busy index) end with one clear line and a non-zero
exit code, never a traceback; the live index is untouched whenever indexing fails.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from app.settings import Settings

log = logging.getLogger("shoplens")


def cmd_index(settings: Settings, args: argparse.Namespace) -> int:
    from indexer.runner import NothingToIndex, run_index
    from indexer.sources.catalog import CatalogError
    from indexer.stores.versions import IndexBusy

    if not settings.catalog:
        print("shoplens index: no catalog given; use --catalog PATH or SHOPLENS_CATALOG.", file=sys.stderr)
        return 2
    embedder = _load_embedder(settings)
    if embedder is None:
        return 1
    job = settings.index_job()
    try:
        report = run_index(job, embedder)
    except (CatalogError, NothingToIndex, IndexBusy) as exc:
        print(f"shoplens index: {exc}", file=sys.stderr)
        return 1
    except Exception:  # any other failure: say so, keep the old version live, exit non-zero
        log.exception("Indexing failed; the previous index version is still live.")
        return 1
    print(report.summary())
    for row in report.skipped[:20]:
        print(f"  skipped line {row.line}: {row.message}")
    if len(report.skipped) > 20:
        print(f"  ... {len(report.skipped) - 20} more in {Path(settings.index_dir) / report.version / 'skipped.jsonl'}")
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from app.resources import Resources
    from indexer.stores.index_store import CorruptIndex, IndexNotFound
    from vision.devices import DeviceUnavailable
    from vision.precision import PrecisionUnavailable
    from vision.weights import UnknownModel, WeightsNotFound

    try:  # fail here, with one line, rather than in every worker
        Resources(settings).preflight()
    except IndexNotFound as exc:
        log.warning("%s The server will start and wait for one.", exc)
    except (CorruptIndex, WeightsNotFound, UnknownModel, DeviceUnavailable, PrecisionUnavailable,
            RuntimeError) as exc:
        print(f"shoplens serve: {exc}", file=sys.stderr)
        return 1
    print(f"Serving on http://{settings.host}:{settings.port}  (index: {settings.index_dir})", flush=True)
    if getattr(args, "dev", False):
        from app import create_app

        create_app(settings).run(host=settings.host, port=settings.port, debug=False, threaded=True)
    else:
        from app.server import serve

        serve(settings)
    return 0


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    """The one-command demo: demo catalog by default, (re)index when needed, then serve."""
    import dataclasses

    from indexer.records import Manifest
    from indexer.sources.catalog import read_catalog
    from indexer.sources.demo import write_demo_catalog
    from indexer.stores.versions import read_current

    if not settings.catalog:
        catalog = write_demo_catalog(Path(settings.index_dir).parent / "demo-catalog")
        settings = dataclasses.replace(settings, catalog=str(catalog))
        print(f"No catalog configured (SHOPLENS_CATALOG): using the built-in demo catalog at {catalog}")
    index_dir = Path(settings.index_dir)
    live = read_current(index_dir)
    stale = live is None
    if live is not None:
        try:
            manifest = Manifest.read(index_dir / live / "manifest.json")
            stale = manifest.catalog_checksum != read_catalog(settings.catalog, fmt=settings.catalog_format).checksum
        except Exception:  # unreadable catalog or manifest: let the indexer report it properly
            stale = True
    if stale:
        print(f"Indexing {settings.catalog} ...", flush=True)
        code = cmd_index(settings, args)
        if code != 0:
            return code
        if settings.vector_store == "milvus":  # let the server's workers open an embedded milvus-lite file
            from indexer.stores.milvus_store import release_embedded

            release_embedded(settings.vector_stores().get("milvus").uri)
    return cmd_serve(settings, args)


def cmd_fetch_model(settings: Settings, args: argparse.Namespace) -> int:
    from vision.weights import UnknownModel, WeightsNotFound, resolve_model_name, resolve_weights

    config = settings.embedder_config()
    try:
        name = resolve_model_name(config.model)
        weights = resolve_weights(name, config.pretrained, cache_dir=config.cache_dir, allow_download=True)
    except (UnknownModel, WeightsNotFound) as exc:
        print(f"shoplens fetch-model: {exc}", file=sys.stderr)
        return 1
    print(f"{name} / {config.pretrained}: {weights.path}")
    return 0


def cmd_milvus_lite(settings: Settings, args: argparse.Namespace) -> int:
    """Run milvus-lite in the foreground until SIGINT/SIGTERM (a single box's Milvus; see README)."""
    import signal
    import threading

    try:
        from milvus_lite.server import Server
    except ImportError:
        print("shoplens milvus-lite: install the Milvus extra: pip install 'shoplens[milvus]'", file=sys.stderr)
        return 1
    db = Path(args.db or Path(settings.index_dir) / "milvus.db").resolve()
    db.parent.mkdir(parents=True, exist_ok=True)
    address = f"{settings.host}:{args.milvus_port}"
    server = Server(str(db), address)
    if not server.init() or not server.start():
        print(f"shoplens milvus-lite: cannot serve {db} on {address} (is it open in another process, or the port "
              "taken?)", file=sys.stderr)
        return 1
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    print(f"milvus-lite is serving {db} on {address}; use SHOPLENS_MILVUS_URI=http://{address}", flush=True)
    while not stop.wait(1.0):
        process = getattr(server, "_p", None)  # milvus_lite.server.Server has no public liveness check
        if process is not None and process.poll() is not None:
            print("shoplens milvus-lite: the milvus-lite process exited.", file=sys.stderr)
            return 1
    server.stop()
    return 0


def _load_embedder(settings: Settings):
    """The embedder, or None after printing why it cannot be loaded."""
    from vision.devices import DeviceUnavailable
    from vision.embedder import Embedder
    from vision.weights import UnknownModel, WeightsNotFound

    try:
        return Embedder(settings.embedder_config())
    except (WeightsNotFound, UnknownModel, DeviceUnavailable, ValueError) as exc:
        print(f"shoplens: cannot load the model: {exc}", file=sys.stderr)
        return None
