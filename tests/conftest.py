"""Shared fixtures: real git repositories with a bare `origin`, real dvc, real MLflow (sqlite).

Expensive state is built once per session: `trained_repo` is a clone of this repository in which
`make run` (the README's main command) has run. Tests that change things work on a copy of it.
The data, contract, task, metrics and thresholds are the project's own (after `init`, the user's):
`project_frame` is its labelled rows as `validate` reads them, CONTRACT its schema, PARAMS its knobs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers.project import (
    CONTRACT,
    ESTIMATORS,
    IS_EXAMPLE,
    PARAMS,
    Repo,
    clone_template,
    make_run,
    read_project_data,
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`example` tests assert exact numbers of the bundled breast-cancer example, or drive `init` on a
    pristine template; on any other data they are skipped (everything else runs on the project's data)."""
    if IS_EXAMPLE:
        return
    skip = pytest.mark.skip(reason="asserts the bundled example's exact numbers; this project's data is its own")
    for item in items:
        if item.get_closest_marker("example") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def trained_repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    """A fresh copy of the template after `make run`, as a new user would get it."""
    repo = clone_template(tmp_path_factory.mktemp("trained"))
    result = make_run(repo)
    repo.make_run_output = result.stdout + result.stderr  # type: ignore[attr-defined]
    repo.template_head = repo.git("rev-parse", "HEAD").stdout.strip()  # type: ignore[attr-defined]
    # On a CPU other than the one that wrote dvc.lock the model's bytes differ (the numbers agree):
    # make run then leaves dvc.lock and models/manifest.json modified. Keep what it left for the
    # test of that, and commit it, as the README tells a new user, so that every copy starts clean.
    repo.status_after_make_run = repo.git("status", "--porcelain").stdout  # type: ignore[attr-defined]
    if repo.status_after_make_run:  # type: ignore[attr-defined]
        repo.git("commit", "-q", "-am", "dvc.lock and manifest of this machine's build of the model")
        repo.git("push", "-q", "origin", "main")
    return repo


@pytest.fixture
def repo_copy(trained_repo: Repo, tmp_path: Path) -> Iterator[Repo]:
    """A private copy of the trained repository for a test that changes things."""
    yield trained_repo.copy(tmp_path / "repo")


@pytest.fixture(scope="session")
def project_frame() -> pd.DataFrame:
    """The project's own labelled rows (after `init`, the user's table), validated by its contract."""
    return read_project_data()


@pytest.fixture(scope="session")
def project_split(project_frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) exactly as the `split` stage makes them from the project's data and params."""
    from pipelines.core.data import split

    s = PARAMS.split
    return split(project_frame, s.test_size, s.seed, s.stratify, CONTRACT.task, CONTRACT.target, s.order_by)


@pytest.fixture(scope="session")
def project_model(project_split: tuple[pd.DataFrame, pd.DataFrame]) -> object:
    """The project's estimator, with its params, fitted in-process on the project's training split."""
    from pipelines.core.train import fit
    from pipelines.yours.features import build_preprocessor

    model, _ = fit(project_split[0], CONTRACT, PARAMS.train, ESTIMATORS, build_preprocessor)
    return model
