"""The ``shoplens`` command: one subcommand per job, flags generated from ``app.settings``.

Known failures (missing weights, a bad catalog, a busy index) end with one clear line and a non-zero
exit code, never a traceback; the live index is untouched whenever indexing fails.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Callable, Sequence

from app.settings import Settings, flag_names, parse_value, setting_fields

MODEL_FIELDS = ["model", "pretrained", "device", "batch_size", "cache_dir", "allow_download"]
VECTOR_FIELDS = ["vector_store", "milvus_uri", "milvus_prefix"]
INDEX_FIELDS = ["catalog", "catalog_format", "index_dir", *MODEL_FIELDS, "index_factory", "compressed_from",
                "recall_target", *VECTOR_FIELDS, "engine", "ray_address", "num_gpus_per_worker", "ray_workers",
                "allow_outside_images", "allow_hosts", "max_pixels", "log_level"]
# The admin token is read from the environment only: a flag would show it in `ps` output.
SERVE_FIELDS = ["index_dir", "catalog", "catalog_format", "allow_hosts", "allow_outside_images", "index_factory",
                "compressed_from", "recall_target", *VECTOR_FIELDS, "host", "port", "workers", "threads", "timeout",
                "ready_wait", "reload_interval", "max_upload_bytes", "max_pixels", "min_image_side", "max_looks",
                "max_faces", "search_rate_limit",
                "tryon_rate_limit", "rate_limit_storage", "trusted_proxies", "cors_origins", *MODEL_FIELDS,
                "log_level"]
log = logging.getLogger("shoplens")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    overrides = {name: value for name, value in vars(args).items() if name in Settings.__dataclass_fields__}
    try:
        settings = Settings.from_env(**overrides)
    except (ValueError, TypeError) as exc:
        print(f"shoplens: invalid setting: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    return args.handler(settings, args)


def configure_logging(level: str) -> None:
    """Our packages at ``level``; third parties (open_clip logs INFO on the root logger) at WARNING."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in ("app", "indexer", "vision", "shoplens"):
        logging.getLogger(name).setLevel(level.upper())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shoplens", description="Visual product search and makeup try-on.")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    _command(commands, "index", "Embed a catalog and switch the live index to a new version.", INDEX_FIELDS,
             cmd_index)
    serve = _command(commands, "serve", "Serve the search and try-on API and page (gunicorn).", SERVE_FIELDS,
                     cmd_serve)
    serve.add_argument("--dev", action="store_true", help="Use Flask's single-process development server.")
    run = _command(commands, "run", "Index the catalog if the index is missing or stale, then serve it.",
                   sorted(set(INDEX_FIELDS + SERVE_FIELDS), key=(INDEX_FIELDS + SERVE_FIELDS).index), cmd_run)
    run.add_argument("--dev", action="store_true", help="Use Flask's single-process development server.")
    lite = _command(commands, "milvus-lite", "Serve a milvus-lite database over gRPC so the indexer and every "
                    "server worker of one box can share it.", ["index_dir", "host", "log_level"], cmd_milvus_lite)
    lite.add_argument("--db", default=None, help="milvus-lite database file (default: milvus.db in the index folder).")
    lite.add_argument("--milvus-port", type=int, default=19530, help="gRPC port (default 19530, Milvus's own).")
    _command(commands, "fetch-model", "Download model weights into the cache for offline servers.",
             ["model", "pretrained", "cache_dir"], cmd_fetch_model)
    return parser


def _command(commands, name: str, help_text: str, fields: list[str], handler: Callable) -> argparse.ArgumentParser:
    sub = commands.add_parser(name, help=help_text, description=help_text)
    specs = {spec.name: spec for spec in setting_fields()}
    for field_name in fields:
        spec = specs[field_name]
        kind = {"int": int, "float": float, "bool": bool}.get(str(spec.type), str)
        help_line = f"{spec.metadata['help']} [env SHOPLENS_{field_name.upper()}, default {spec.default!r}]"
        if spec.metadata.get("secret"):
            help_line = f"{spec.metadata['help']} [env SHOPLENS_{field_name.upper()}]"
        if kind is bool:
            sub.add_argument(*flag_names(spec), dest=field_name, default=None, action="store_true", help=help_line)
        else:
            sub.add_argument(*flag_names(spec), dest=field_name, default=None, help=help_line,
                             type=lambda raw, kind=kind: parse_value(kind, raw),
                             metavar=field_name.upper().split("_")[-1])
    sub.set_defaults(handler=handler)
    return sub


def cmd_index(settings: Settings, args: argparse.Namespace) -> int:
    from indexer.build import IndexBusy
    from indexer.catalog import CatalogError
    from indexer.runner import NothingToIndex, run_index

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
    from indexer.store import CorruptIndex, IndexNotFound
    from vision.devices import DeviceUnavailable
    from vision.weights import UnknownModel, WeightsNotFound

    try:  # fail here, with one line, rather than in every worker
        Resources(settings).preflight()
    except IndexNotFound as exc:
        log.warning("%s The server will start and wait for one.", exc)
    except (CorruptIndex, WeightsNotFound, UnknownModel, DeviceUnavailable, RuntimeError) as exc:
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

    from indexer.build import Manifest, read_current
    from indexer.catalog import read_catalog
    from indexer.demo import write_demo_catalog

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
            from indexer.milvus_store import release_embedded

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


if __name__ == "__main__":
    sys.exit(main())
