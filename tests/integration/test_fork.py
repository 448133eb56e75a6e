"""A forked project, in the suite: a fresh copy adapted by `init` to a multiclass table with text labels,
categoricals and missing values (tests/tables.py), its pipeline run as `make run` runs it; then the
data, model and service tiers of its own test suite run against its own data and model, and its service,
fed its training rows, answers every one and its monitor sees no drift."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.project import Repo, clone_template, make_run
from tests.helpers.service import Server, json_rows, post

pytestmark = [pytest.mark.slow, pytest.mark.example, pytest.mark.xdist_group("fork")]
TIERS = ["tests/data", "tests/model", "tests/service/test_api.py", "tests/service/test_any_model.py",
         "tests/unit/test_drift.py"]  # fmt: skip


@pytest.fixture(scope="module")
def fork(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Repo]:
    """The template's copy after `init --dataset multiclass.csv --target cultivar` and `make run`."""
    root = tmp_path_factory.mktemp("fork")
    repo = clone_template(root)
    table = root / "multiclass.csv"
    repo.run(sys.executable, "-m", "tests.tables", "multiclass", str(table))
    init = repo.pipelines("init", "--dataset", str(table), "--target", "cultivar", "--name", "wine")
    repo.init_output = init.stderr  # type: ignore[attr-defined]
    make_run(repo)
    yield repo


def test_init_summarises_what_it_chose_and_the_fork_is_multiclass(fork: Repo) -> None:
    assert "task: multiclass" in fork.init_output  # type: ignore[attr-defined]
    schema = (fork.path / "pipelines" / "yours" / "schema.py").read_text()
    assert 'TASK: Task = "multiclass"' in schema and "nullable=True" in schema
    metrics = json.loads((fork.path / "metrics.json").read_text())
    assert {"accuracy", "f1_macro", "log_loss"} <= set(metrics)


def test_the_forks_own_data_model_and_service_tiers_pass_on_its_data(fork: Repo) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow", "-rs", *TIERS],
        cwd=fork.path, env=fork.env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    summary = result.stdout.strip().splitlines()[-1]
    assert result.returncode == 0, result.stdout[-4000:]
    assert " passed" in summary and "skipped" not in summary.split("passed")[0], summary


def test_the_service_answers_its_example_and_training_rows_replayed_through_it_show_no_drift(
    fork: Repo, tmp_path: Path
) -> None:
    import pandas as pd

    logs = tmp_path / "logs"
    server = Server(fork, "--log-dir", str(logs))
    try:
        server.wait_ready()
        example = json.loads((fork.path / "models" / "model" / "serving_input_example.json").read_text())
        status, body = post(server.url, example)
        assert status == 200, body
        train = pd.read_parquet(fork.path / "build" / "train.parquet")
        features = example["dataframe_split"]["columns"]
        rows = json_rows(train[features])
        for start in range(0, len(rows), 100):
            status, body = post(
                server.url, {"dataframe_split": {"columns": features, "data": rows[start : start + 100]}}
            )
            assert status == 200, body
    finally:
        server.stop()
    verdict = tmp_path / "drift.json"
    fork.pipelines("monitor", "--logs", str(logs), "--out", str(tmp_path / "monitor.md"), "--verdict", str(verdict))
    result = json.loads(verdict.read_text())
    assert result["status"] == "ok" and result["drift"] is False, result
    assert result["rows"] == len(rows) + len(example["dataframe_split"]["data"])
