"""Code quality gates that CI enforces: ruff (lint and format), mypy (no untyped definitions) on the
package and the service, and the layering contract (import-linter, pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *cmd], cwd=ROOT, capture_output=True, text=True, check=False)


def test_ruff_lint_and_format_are_clean() -> None:
    lint = _run("ruff", "check", ".")
    assert lint.returncode == 0, lint.stdout
    fmt = _run("ruff", "format", "--check", ".")
    assert fmt.returncode == 0, fmt.stdout


def test_mypy_is_clean_on_the_package_and_the_service() -> None:
    result = _run("mypy", "pipelines", "deploy")
    assert result.returncode == 0, result.stdout


def test_the_layers_import_one_way() -> None:
    """core imports no adapters or jobs; only jobs.serve imports deploy/; deploy imports no jobs; the comment
    path stays standard-library only (the contracts are in pyproject.toml)."""
    result = subprocess.run([str(Path(sys.executable).parent / "lint-imports")], cwd=ROOT, capture_output=True,
                            text=True, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout


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
