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
    """pipelines.cli imports only the module the command table names (so a DVC stage loads its own job module);
    that module must be the one registering it, with the table's help, and every module's commands are listed."""
    import argparse
    import importlib

    from pipelines.commands import COMMANDS

    for module, names in COMMANDS.items():
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(module).add_commands(sub)
        assert sorted(sub.choices) == sorted(names), module
        assert {a.dest: a.help for a in sub._choices_actions} == names, module


def test_help_lists_every_command_without_importing_a_command_module() -> None:
    """`python -m pipelines --help` reads the command table only: no job module, nothing heavier than the
    standard library, so it answers at once."""
    probe = (
        "import contextlib, io, sys\n"
        "from pipelines.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        "loaded = [m for m in sys.modules if m.startswith(('pipelines.jobs', 'pipelines.template', 'pipelines.core',"
        " 'numpy', 'pandas', 'yaml', 'pydantic'))]\n"
        "print(loaded, out.getvalue().count('\\n    '))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    from pipelines.commands import SUMMARIES

    loaded, listed = result.stdout.rsplit(" ", 1)
    assert loaded == "[]"
    assert int(listed) >= len(SUMMARIES)


# Third-party libraries a project module may load at import and still count as light: a command module imports
# light project modules at its top; one that loads anything else (pandas and up) is imported where its work is,
# so a command, and a DVC stage, loads only what it uses and a stage's deps in dvc.yaml stay its own.
LIGHT_LIBRARIES = frozenset({"numpy", "pydantic", "yaml", "orjson", "prometheus_client"})
COMMAND_MODULE_FILES = ["pipelines/jobs/*.py", "pipelines/jobs/stages/*.py", "pipelines/template/commands.py"]
LAZY_BY_DESIGN: dict[str, str] = {}  # "path module": why a light module is still imported in a function


def _top_level_imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """What a module imports when it is imported (not under TYPE_CHECKING, not inside a function)."""
    import ast

    found: set[str] = set()

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in modules)
            elif isinstance(node, (ast.If, ast.Try)):
                visit(node.body + node.orelse)
                if isinstance(node, ast.Try):
                    visit([n for handler in node.handlers for n in handler.body] + node.finalbody)

    visit(ast.parse(path.read_text()).body)
    return found


def _libraries_loaded(module: str, modules: dict[str, Path], seen: set[str] | None = None) -> set[str]:
    """The third-party top-level packages importing `module` loads, following project imports (and parents)."""
    seen = set() if seen is None else seen
    if module in seen:
        return set()
    seen.add(module)
    parts = module.split(".")
    libraries = set().union(*(_libraries_loaded(".".join(parts[:i]), modules, seen) for i in range(1, len(parts))))
    for imported in _top_level_imports(modules[module], modules):
        if imported in modules:
            libraries |= _libraries_loaded(imported, modules, seen)
        elif (root := imported.split(".")[0]) not in sys.stdlib_module_names | {"__future__", "pipelines", "deploy"}:
            libraries.add(root)
    return libraries


def _lazy_light_imports(modules: dict[str, Path], files: list[Path]) -> list[str]:
    """Imports of light project modules inside functions of `files`, as `path:line module`."""
    import ast

    found = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom) and inner.module and inner.module.split(".")[0] in modules:
                    for alias in inner.names:
                        target = f"{inner.module}.{alias.name}"
                        target = target if target in modules else inner.module
                        where = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name
                        if _libraries_loaded(target, modules) <= LIGHT_LIBRARIES and (
                            f"{where} {target}" not in LAZY_BY_DESIGN
                        ):
                            found.append(f"{where}:{inner.lineno} {target}")
    return sorted(set(found))


def test_command_modules_import_light_project_modules_at_their_top(tmp_path: Path) -> None:
    """A command module's dependencies can be read from its top: a project module that loads nothing heavier
    than LIGHT_LIBRARIES is imported there, never inside a function."""
    modules = {
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
        for folder in ("pipelines", "deploy")
        for p in (ROOT / folder).rglob("*.py")
    }
    modules |= {"pipelines": ROOT / "pipelines" / "__init__.py", "deploy": ROOT / "deploy" / "__init__.py"}
    assert _libraries_loaded("pipelines.core.validation", modules) >= {"pandas", "pandera"}
    assert _libraries_loaded("pipelines.core.params", modules) <= LIGHT_LIBRARIES
    files = [p for pattern in COMMAND_MODULE_FILES for p in sorted(ROOT.glob(pattern))]
    assert _lazy_light_imports(modules, files) == []
    lazy = tmp_path / "probe.py"  # the check can fail: a light import inside a function is found, a heavy one not
    lazy.write_text("def f():\n    from pipelines.core.params import Params\n    from pipelines.core import data\n")
    assert _lazy_light_imports(modules, [lazy]) == ["probe.py:2 pipelines.core.params"]


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
