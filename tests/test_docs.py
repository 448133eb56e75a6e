"""The docs describe files that exist, and every module of the package is documented."""

from __future__ import annotations

import re

from tests.conftest import ROOT


def _readme_tree() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("## What is in the repository", 1)[1].split("```", 2)[1]
    paths, parent = [], ""
    for line in block.splitlines()[1:]:
        if not line.strip():
            continue
        name = line.split()[0]
        if line.startswith("  "):
            paths.append(parent + name)
        else:
            parent = name if name.endswith("/") else ""
            paths.append(name)
    return paths


def test_every_path_in_the_readme_tree_exists() -> None:
    paths = _readme_tree()
    assert len(paths) > 20
    missing = [p for p in paths if not (ROOT / p).exists()]
    assert missing == []


def test_every_package_module_is_in_the_readme_tree_and_the_architecture_doc() -> None:
    modules = {p.name for p in (ROOT / "pipelines").glob("*.py") if not p.name.startswith("__")}
    tree = {p.split("/")[-1] for p in _readme_tree() if p.startswith("pipelines/")}
    architecture = set(re.findall(r"`(\w+\.py)`", (ROOT / "docs" / "ARCHITECTURE.md").read_text()))
    assert modules - tree == set()
    assert modules - {"cli.py"} - architecture == set()


def test_commands_in_the_readme_pipeline_table_exist() -> None:
    from pipelines.cli import commands as known_commands

    commands = set(re.findall(r"`python -m pipelines ([\w-]+)`", (ROOT / "README.md").read_text()))
    known = set(known_commands())
    assert commands and commands <= known
