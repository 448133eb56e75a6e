"""The docs describe files that exist, and every module of the package is documented."""

from __future__ import annotations

import re

from tests.helpers.project import ROOT


def _readme_tree() -> list[str]:
    """Every path the README's annotated tree names (two spaces of indent per level)."""
    text = (ROOT / "README.md").read_text()
    block = text.split("## What is in the repository", 1)[1].split("```", 2)[1]
    paths: list[str] = []
    parents: list[str] = []  # the directory at each indent level
    for line in block.splitlines()[1:]:
        if not line.strip() or line.startswith(" " * 22):  # a continuation of the previous description
            continue
        level = (len(line) - len(line.lstrip(" "))) // 2
        name = line.split()[0]
        parents = parents[:level]
        path = "".join(parents) + name
        paths.append(path)
        if name.endswith("/"):
            parents.append(name)
    return paths


def test_every_path_in_the_readme_tree_exists() -> None:
    paths = _readme_tree()
    assert len(paths) > 20
    missing = [p for p in paths if not (ROOT / p).exists()]
    assert missing == []


def test_every_package_module_is_in_the_readme_tree_and_the_architecture_doc() -> None:
    modules = {p.relative_to(ROOT / "pipelines").as_posix() for p in (ROOT / "pipelines").rglob("*.py")
               if not p.name.startswith("__")}  # fmt: skip
    tree = {p.removeprefix("pipelines/") for p in _readme_tree() if p.startswith("pipelines/")}
    architecture = set(re.findall(r"`([\w/]+\.py)`", (ROOT / "docs" / "ARCHITECTURE.md").read_text()))
    assert modules - tree == set()
    assert modules - {"cli.py"} - architecture == set()


def test_commands_in_the_readme_pipeline_table_exist() -> None:
    from pipelines.cli import commands as known_commands

    commands = set(re.findall(r"`python -m pipelines ([\w-]+)`", (ROOT / "README.md").read_text()))
    known = set(known_commands())
    assert commands and commands <= known
