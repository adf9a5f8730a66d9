"""Where CLIP weights come from: a local checkpoint file, or a pretrained tag in the Hugging Face cache.

Resolution never falls back to random weights: a model whose weights cannot be found is an error
that names the setting to fix, because a search index built on random weights is silently useless.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import open_clip

FIX_HINT = (
    "Set --pretrained / SHOPLENS_PRETRAINED to a local checkpoint file, or run "
    "`shoplens fetch-model` on a machine with network access to fill the Hugging Face cache "
    "(HF_HOME / SHOPLENS_CACHE_DIR)."
)
_PREPROCESS_KEYS = ("mean", "std", "interpolation", "resize_mode")


class WeightsNotFound(RuntimeError):
    """The configured weights are not on this machine and could not be downloaded."""


class UnknownModel(ValueError):
    """The model name is neither a registered open_clip config nor a readable config JSON."""


@dataclass(frozen=True)
class ResolvedWeights:
    """A checkpoint file on disk plus the settings the weights were trained with."""

    path: Path
    quick_gelu: bool = False
    preprocess: dict = field(default_factory=dict)


def resolve_model_name(model: str) -> str:
    """Return a registered open_clip model name; a path to a config JSON is registered first.

    :raise UnknownModel: with the list of valid names.
    """
    candidate = Path(model)
    if candidate.suffix == ".json":
        if not candidate.is_file():
            raise UnknownModel(f"Model config file {model!r} does not exist (--model / SHOPLENS_MODEL).")
        try:
            config = json.loads(candidate.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise UnknownModel(f"Model config file {model!r} is not valid JSON: {exc}") from exc
        if not isinstance(config, dict) or not {"embed_dim", "vision_cfg", "text_cfg"} <= config.keys():
            raise UnknownModel(f"Model config {model!r} needs embed_dim, vision_cfg and text_cfg.")
        open_clip.add_model_config(candidate)
        return candidate.stem
    name = model.replace("/", "-")
    if name not in open_clip.list_models():
        raise UnknownModel(
            f"Unknown model {model!r} (--model / SHOPLENS_MODEL). Use a path to an open_clip config "
            f"JSON or one of: {', '.join(sorted(open_clip.list_models()))}"
        )
    return name


def resolve_weights(model_name: str, pretrained: str, *, cache_dir: str | None = None,
                    allow_download: bool = False) -> ResolvedWeights:
    """Find the checkpoint for ``pretrained`` (a file path or a tag of ``model_name``).

    :raise WeightsNotFound: naming the setting to fix.
    """
    if not pretrained:
        raise WeightsNotFound(f"No weights configured for model {model_name!r}. {FIX_HINT}")
    as_path = Path(pretrained).expanduser()
    if as_path.is_file():
        return ResolvedWeights(path=as_path.resolve())
    tag_config = open_clip.get_pretrained_cfg(model_name, pretrained)
    if not tag_config:
        if _looks_like_path(pretrained):
            raise WeightsNotFound(f"Checkpoint file {pretrained!r} does not exist. {FIX_HINT}")
        tags = open_clip.list_pretrained_tags_by_model(model_name)
        raise WeightsNotFound(
            f"{pretrained!r} is neither a file nor a pretrained tag of {model_name}. "
            f"Available tags: {', '.join(tags) or 'none (use a checkpoint file)'}."
        )
    path = _fetch_tag(tag_config, cache_dir=cache_dir, allow_download=allow_download,
                      label=f"{model_name} / {pretrained}")
    preprocess = {key: tag_config[key] for key in _PREPROCESS_KEYS if key in tag_config}
    return ResolvedWeights(path=path, quick_gelu=bool(tag_config.get("quick_gelu", False)), preprocess=preprocess)


def _fetch_tag(tag_config: dict, *, cache_dir: str | None, allow_download: bool, label: str) -> Path:
    hub = tag_config.get("hf_hub", "")
    if hub:
        return _fetch_from_hub(hub, cache_dir=cache_dir, allow_download=allow_download, label=label)
    url = tag_config.get("url", "")
    if not url:
        raise WeightsNotFound(f"The pretrained config for {label} names no source. {FIX_HINT}")
    cached = Path(cache_dir or os.path.expanduser("~/.cache/clip")) / os.path.basename(url)
    if cached.is_file():
        return cached
    if not allow_download:
        raise WeightsNotFound(f"Weights for {label} are not cached at {cached}. {FIX_HINT}")
    try:
        return Path(open_clip.download_pretrained_from_url(url, cache_dir=cache_dir))
    except Exception as exc:  # network, disk or checksum failure: all mean "no weights"
        raise WeightsNotFound(f"Downloading weights for {label} failed: {exc}. {FIX_HINT}") from exc


def _fetch_from_hub(hub: str, *, cache_dir: str | None, allow_download: bool, label: str) -> Path:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    repo_id, filename = os.path.split(hub)
    filenames = _hub_candidates(filename or "open_clip_pytorch_model.bin")
    last_error: Exception | None = None
    modes = (True,)
    if allow_download:
        modes = (True, False) if _hub_reachable() else (True,)
        last_error = None if len(modes) == 2 else ConnectionError(f"{_hub_host()} is not reachable")
    for offline in modes:
        for name in filenames:
            try:
                return Path(hf_hub_download(repo_id, name, cache_dir=cache_dir, local_files_only=offline))
            except LocalEntryNotFoundError as exc:
                last_error = last_error if offline and last_error else exc
            except Exception as exc:  # network failures and missing files look alike to the caller
                last_error = exc
    where = "in the Hugging Face cache" if not allow_download else "in the cache or on the Hub"
    raise WeightsNotFound(f"Weights for {label} ({repo_id}) were not found {where} ({last_error}). {FIX_HINT}")


def _hub_host() -> str:
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    return urlparse(endpoint).hostname or "huggingface.co"


def _hub_reachable(timeout: float = 3.0) -> bool:
    """A cheap probe, so an offline server fails in seconds instead of minutes of HTTP retries."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    try:
        with socket.create_connection((_hub_host(), 443), timeout=timeout):
            return True
    except OSError:
        return False


def _hub_candidates(filename: str) -> list[str]:
    """The safetensors twin first: it loads faster and cannot run code."""
    stem, _, suffix = filename.rpartition(".")
    if suffix in ("bin", "pth", "pt") and stem:
        return [f"{stem}.safetensors", filename]
    return [filename]


def _looks_like_path(value: str) -> bool:
    return os.sep in value or value.endswith((".pt", ".pth", ".bin", ".safetensors", ".ckpt"))


def model_id(model_name: str, weights_path: Path) -> str:
    """``name@digest``: what an index records, so a server can tell whether its model matches."""
    return f"{model_name}@{file_digest(weights_path)}"


def file_digest(path: Path, length: int = 16) -> str:
    """A short sha256 of the checkpoint, so an index records exactly which weights built it."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(4 * 1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()[:length]
