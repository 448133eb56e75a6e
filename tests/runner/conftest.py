"""The workflow tier: the workflow files themselves under nektos/act (`make test-workflows`, not `make test`).

Each module is one sandbox (tests/runner/sandbox.py) whose scenarios build on each other where GitHub
would (a merge, then the deploy it starts); modules run in parallel, a module's tests in order.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import VENV, Repo
from tests.runner.sandbox import Sandbox

if os.environ.get("PIPELINES_RUNNER_SANDBOX"):
    raise pytest.UsageError("the workflow tier refuses to run inside one of its own scenarios")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """One xdist group per module: a module's scenarios share one sandbox and run in order."""
    for item in items:
        if "tests/runner/" in item.nodeid:
            item.add_marker(pytest.mark.xdist_group(Path(item.fspath).stem))


@pytest.fixture(scope="module")
def sandbox(trained_repo: Repo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A runner-shaped sandbox around a private copy of the trained project (its own bare origin)."""
    assert VENV is not None, "the workflow tier runs in the project's virtual environment"
    root = tmp_path_factory.mktemp("runner")
    work = trained_repo.copy(root / "work")
    box = Sandbox(root, work.path, VENV)
    yield box
    box.close()
