"""The workflow tier: the workflow files themselves under nektos/act (`make test-workflows`, not `make test`).

Each module is one sandbox (tests/runner/sandbox.py) whose scenarios build on each other where GitHub
would (a merge, then the deploy it starts); modules run in parallel, a module's tests in order (each
module names its own xdist_group).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.helpers.project import VENV, Repo
from tests.runner.sandbox import Sandbox

if os.environ.get("PIPELINES_RUNNER_SANDBOX"):
    raise pytest.UsageError("the workflow tier refuses to run inside one of its own scenarios")


@pytest.fixture(scope="module")
def sandbox(trained_repo: Repo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A runner-shaped sandbox around a private copy of the trained project (its own bare origin)."""
    assert VENV is not None, "the workflow tier runs in the project's virtual environment"
    root = tmp_path_factory.mktemp("runner")
    work = trained_repo.copy(root / "work")
    box = Sandbox(root, work.path, VENV)
    yield box
    box.close()
