"""The Dockerfile cannot be built here (no Docker engine); check what can be checked statically."""

from __future__ import annotations

import re
from pathlib import Path

from app.cli import build_parser
from app.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_every_copied_path_exists():
    for source in re.findall(r"^COPY (?!--from)(?:--\S+ )*(.+) \S+$", DOCKERFILE, re.M):
        for name in source.split():
            assert (ROOT / name).exists(), name


def test_every_shoplens_command_it_runs_exists():
    commands = set(build_parser()._subparsers._group_actions[0].choices)
    used = re.findall(r'shoplens"?,? "?([a-z-]+)', DOCKERFILE)
    assert used and set(used) <= commands


def test_every_env_setting_it_sets_is_a_real_setting():
    names = {f"SHOPLENS_{name.upper()}" for name in Settings.__dataclass_fields__}
    assert set(re.findall(r"(SHOPLENS_[A-Z_]+)=", DOCKERFILE)) <= names


def test_runs_as_non_root_with_a_healthcheck_and_a_volume():
    assert re.search(r"^USER (?!root)\w+", DOCKERFILE, re.M)
    assert "/healthz" in DOCKERFILE and "HEALTHCHECK" in DOCKERFILE
    assert 'VOLUME ["/data/index"]' in DOCKERFILE and "SHOPLENS_INDEX_DIR=/data/index" in DOCKERFILE
    assert "HF_HUB_OFFLINE=1" in DOCKERFILE  # weights were fetched at build time


def test_pins_agree_with_the_project():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert "torch<=2.14.1" in DOCKERFILE and "torch>=2.3,<=2.14.1" in pyproject
