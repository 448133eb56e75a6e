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


def _resolves(dotted: str) -> bool:
    """Whether `a.b.c` names an importable module, or an attribute (a dataclass field counts) of one."""
    import importlib

    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            fields = getattr(found, "__dataclass_fields__", {})
            if not hasattr(found, attr) and attr not in fields:
                return False
            found = getattr(found, attr, None)
        return True
    return False


def test_every_module_named_in_the_code_exists() -> None:
    """Docstrings and comments that name `pipelines.x.y` or `deploy.x` name something that exists, so a moved
    module cannot leave readers looking for it (file names such as deploy.yml aside)."""
    import re

    named = {
        (path.relative_to(ROOT).as_posix(), m.group(1))
        for path in [*(ROOT / "pipelines").rglob("*.py"), *(ROOT / "deploy").rglob("*.py")]
        for m in re.finditer(r"\b((?:pipelines|deploy)(?:\.[A-Za-z_]\w*)+)", path.read_text())
        if m.group(1).rsplit(".", 1)[1] not in ("yml", "yaml", "py", "json", "md", "txt")
    }
    assert len(named) > 50
    assert sorted((path, name) for path, name in named if not _resolves(name)) == []
