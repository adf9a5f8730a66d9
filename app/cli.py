"""The ``shoplens`` command line: one subcommand per job, flags generated from ``app.settings``.

Parsing only; what each subcommand does is in ``app.commands``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable, Sequence

from app.commands import cmd_fetch_model, cmd_index, cmd_milvus_lite, cmd_run, cmd_serve
from app.settings import Settings, flag_names, parse_value, setting_fields

MODEL_FIELDS = ["model", "pretrained", "device", "precision", "torch_threads", "batch_size", "cache_dir",
                "allow_download"]
VECTOR_FIELDS = ["vector_store", "milvus_uri", "milvus_prefix"]
INDEX_FIELDS = ["catalog", "catalog_format", "index_dir", *MODEL_FIELDS, "index_factory", "compressed_from",
                "recall_target", *VECTOR_FIELDS, "engine", "ray_address", "num_gpus_per_worker", "ray_workers",
                "allow_outside_images", "allow_hosts", "max_pixels", "log_level"]
# The admin and metrics tokens are read from the environment only: a flag would show them in `ps` output.
SERVE_FIELDS = ["index_dir", "catalog", "catalog_format", "allow_hosts", "allow_outside_images", "index_factory",
                "compressed_from", "recall_target", *VECTOR_FIELDS, "host", "port", "workers", "threads", "timeout",
                "max_batch", "batch_wait_ms", "queue_timeout", "header_timeout", "body_timeout", "max_connections",
                "max_buffered_mb", "ready_wait", "reload_interval", "max_upload_bytes", "max_pixels", "min_image_side",
                "max_looks", "max_faces", "mesh_views", "max_items", "item_candidates", "item_min_gain",
                "search_rate_limit", "tryon_rate_limit", "link_rate_limit", "link_timeout", "rate_limit_storage",
                "trusted_proxies", "cors_origins", "face_mesh_dir", *MODEL_FIELDS, "log_level"]
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


if __name__ == "__main__":
    sys.exit(main())
