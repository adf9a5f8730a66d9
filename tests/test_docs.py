"""The README stays true: its settings table, its two commands, and what CI runs."""

from __future__ import annotations

import re
from pathlib import Path

from app.cli import build_parser
from app.settings import setting_fields

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_settings_table_lists_every_setting_with_its_default():
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `SHOPLENS_([A-Z_]+)` \|[^|]*\| ([^|]*) \|", README, re.M)}
    assert set(rows) == {spec.name.upper() for spec in setting_fields()}
    for spec in setting_fields():
        shown = rows[spec.name.upper()].strip()
        expected = "(empty)" if spec.default == "" else "off" if spec.default is False else str(spec.default)
        assert shown == expected, spec.name


def test_readme_names_the_two_commands_and_ci_runs_the_test_one():
    assert "make run" in README and "make test" in README
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M)


def test_every_flag_in_the_settings_table_exists():
    parser = build_parser()
    known = set()
    for action in parser._subparsers._group_actions[0].choices.values():
        known |= {flag for sub in action._actions for flag in sub.option_strings}
    for flags in re.findall(r"^\| `SHOPLENS_[A-Z_]+` \| ([^|]*) \|", README, re.M):
        for flag in re.findall(r"`(--[a-z-]+)`", flags):
            assert flag in known, flag
