"""Code quality gates that CI enforces: ruff (lint and format), mypy (no untyped definitions) on the
package and the service, and the layering contract (import-linter, pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.project import ROOT


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *cmd], cwd=ROOT, capture_output=True, text=True, check=False)


def test_ruff_lint_and_format_are_clean() -> None:
    lint = _run("ruff", "check", ".")
    assert lint.returncode == 0, lint.stdout
    fmt = _run("ruff", "format", "--check", ".")
    assert fmt.returncode == 0, fmt.stdout


def test_mypy_is_clean_on_the_package_and_the_service() -> None:
    result = _run("mypy")  # pyproject.toml: files = pipelines, deploy (what `make typecheck` runs)
    assert result.returncode == 0, result.stdout


def test_the_layers_import_one_way() -> None:
    """cli > jobs | template > commands > deploy > adapters > yours > core, each importing only below it; deploy/
    sees only the core; only jobs.serve imports deploy/; the comment path stays standard-library only (the
    contracts are in pyproject.toml)."""
    result = subprocess.run([str(Path(sys.executable).parent / "lint-imports")], cwd=ROOT, capture_output=True,
                            text=True, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout


def _cycles(graph: Any) -> list[list[str]]:
    """The import graph's strongly connected components of more than one module (Tarjan 1972), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return sorted(found)


def test_no_import_cycle_in_the_package_or_the_service(monkeypatch: pytest.MonkeyPatch) -> None:
    """No two modules of pipelines/ or deploy/ import each other, directly or around a circle, counting imports
    inside functions and under TYPE_CHECKING (grimp's graph, the one import-linter checks the layers on)."""
    import grimp

    monkeypatch.syspath_prepend(str(ROOT))
    graph = grimp.build_graph("pipelines", "deploy", include_external_packages=False)
    assert "pipelines.core.metrics" in graph.modules and "deploy.app" in graph.modules
    assert _cycles(graph) == []
    graph.add_import(importer="pipelines.core.metrics", imported="pipelines.core.evaluate")  # the check can fail
    assert any({"pipelines.core.evaluate", "pipelines.core.metrics"} <= set(c) for c in _cycles(graph))


def test_each_command_is_registered_by_the_module_the_cli_names() -> None:
    """pipelines.cli imports only the module a command names (so a DVC stage loads its own job module); that
    module must be the one registering it, and every module's commands are listed."""
    import argparse
    import importlib

    from pipelines.cli import COMMAND_MODULES

    for module, names in COMMAND_MODULES.items():
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(module).add_commands(sub)
        assert sorted(sub.choices) == sorted(names), module


def test_no_module_is_over_about_400_lines() -> None:
    sizes = {p.relative_to(ROOT).as_posix(): len(p.read_text().splitlines())
             for p in [*(ROOT / "pipelines").rglob("*.py"), *(ROOT / "deploy").rglob("*.py")]}  # fmt: skip
    assert {path: n for path, n in sizes.items() if n > 420} == {}


def test_the_image_requirements_are_exported_from_the_current_lock() -> None:
    """deploy/requirements.txt must be what `make requirements` would write from uv.lock today."""
    import shutil

    import pytest

    uv = shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
    if not (shutil.which("uv") or (ROOT / ".tools" / "bin" / "uv").exists()):
        pytest.skip("uv is not installed here")
    exported = subprocess.run(
        [uv, "export", "--frozen", "--only-group", "serve", "--no-emit-project", "--no-header", "--quiet"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert exported == (ROOT / "deploy" / "requirements.txt").read_text(), "run `make requirements`"


def test_the_suite_runner_keeps_an_xdist_group_on_one_worker(tmp_path: Path) -> None:
    """`make test` relies on `--dist=loadgroup` keeping each `xdist_group` (the promotion and init modules,
    whose tests share one repository in order) on one worker; pytest 9.2 with xdist 3.8 silently stopped
    doing that (pytest-dev/pytest-xdist#1386)."""
    (tmp_path / "test_grouped.py").write_text(
        "import os, pytest\n"
        "pytestmark = pytest.mark.xdist_group('one')\n"
        + "".join(f"def test_{i}():\n    open('{i}.worker', 'w').write(os.environ['PYTEST_XDIST_WORKER'])\n"
                  for i in range(8))
    )  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "2", "--dist=loadgroup", "-q",
         "test_grouped.py"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout
    workers = {path.read_text() for path in tmp_path.glob("*.worker")}
    assert len(list(tmp_path.glob("*.worker"))) == 8, result.stdout
    assert len(workers) == 1, f"the group ran on {sorted(workers)}:\n{result.stdout}"
