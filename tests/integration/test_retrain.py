"""Fresh data and scheduled retraining, with real files, git (bare origin), dvc and sqlite."""

from __future__ import annotations

import json
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers.project import Repo, forbidden_cell, noisy_sample, other_blas_kernel, read_project_data

pytestmark = pytest.mark.slow


def _configure(repo: Repo, **ingest: object) -> None:
    path = repo.path / "params.yaml"
    data = yaml.safe_load(path.read_text())
    data["ingest"].update(ingest)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    repo.git("commit", "-q", "-am", "configure the ingest source")


def _batch(seed: int, rows: int = 60):  # type: ignore[no-untyped-def]
    return noisy_sample(read_project_data(), rows, seed)


def _branches(repo: Repo) -> list[str]:
    return repo.git("ls-remote", "--heads", "origin").stdout.split()[1::2]


def test_a_retrain_with_no_source_configured_is_a_notice_and_a_green_run(repo_copy: Repo, tmp_path: Path) -> None:
    """A fresh fork's weekly run: no ingest source yet is not a failure in its Actions tab."""
    summary = tmp_path / "summary.md"
    result = repo_copy.run(sys.executable, "-m", "pipelines", "retrain", "--push", "--summary", str(summary))
    assert result.returncode == 0
    assert "Retraining skipped: no source configured" in result.stderr
    assert "Retraining skipped" in summary.read_text()
    assert repo_copy.git("status", "--porcelain").stdout == "" and _branches(repo_copy) == ["refs/heads/main"]


def test_retraining_with_no_new_data_changes_nothing(repo_copy: Repo, tmp_path: Path) -> None:
    (tmp_path / "source").mkdir()
    _configure(repo_copy, source=f"{tmp_path}/source/*.csv")
    result = repo_copy.pipelines("retrain", "--push")
    assert "Nothing to do" in result.stderr
    assert repo_copy.git("status", "--porcelain").stdout == ""
    assert _branches(repo_copy) == ["refs/heads/main"]


def test_a_scheduled_retrain_on_another_cpu_kernel_without_new_data_opens_no_branch(
    repo_copy: Repo, tmp_path: Path
) -> None:
    """A runner whose OpenBLAS kernel differs from the one that wrote dvc.lock, with no cached model, retrains:
    the model's bytes differ, its numbers agree, so nothing changed and no branch is pushed."""
    kernel = other_blas_kernel()
    if kernel is None:
        pytest.skip("no second OpenBLAS kernel this CPU can run")
    (tmp_path / "source").mkdir()
    _configure(repo_copy, source=f"{tmp_path}/source/*.csv")
    head, committed = repo_copy.git("rev-parse", "HEAD").stdout, (repo_copy.path / "dvc.lock").read_text()
    shutil.rmtree(repo_copy.path / "models" / "model")  # a fresh runner: no model, no DVC cache of it
    shutil.rmtree(repo_copy.path / ".dvc" / "cache")
    repo_copy.env = {**repo_copy.env, "OPENBLAS_CORETYPE": kernel}

    result = repo_copy.pipelines("retrain", "--push")

    assert "Running stage 'train'" in result.stdout, "the model was not retrained"
    assert "Nothing to do: no new data, and the pipeline reproduces the committed outputs" in result.stderr
    if (repo_copy.path / "dvc.lock").read_text() == committed:
        pytest.skip(f"the {kernel} kernel gives the same model bytes as this environment's on this CPU")
    assert "(this runner's model bytes differ; its numbers agree)" in result.stderr
    assert _branches(repo_copy) == ["refs/heads/main"]
    assert repo_copy.git("rev-parse", "HEAD").stdout == head


def test_a_new_batch_becomes_a_retrain_branch_with_a_new_data_pointer_and_twice_is_once(
    repo_copy: Repo, tmp_path: Path
) -> None:
    source = tmp_path / "source"
    source.mkdir()
    _batch(1).to_csv(source / "2026-11-23.csv", index=False)
    _configure(repo_copy, source=f"{source}/*.csv")
    pointer_before = (repo_copy.path / "data.dvc").read_text()
    refused = repo_copy.pipelines("retrain", "--push", check=False)
    assert refused.returncode == 1 and "no DVC remote is configured" in refused.stderr
    assert repo_copy.git("status", "--porcelain").stdout == "", "a refused retrain must change nothing"
    repo_copy.dvc("remote", "add", "-d", "storage", str(tmp_path / "dvc-remote"))
    repo_copy.git("commit", "-q", "-am", "a DVC remote")

    result = repo_copy.pipelines("retrain", "--push")

    assert "1 new (60 rows)" in result.stderr
    assert any((tmp_path / "dvc-remote").rglob("*")), "the new data was not pushed to the DVC remote"
    (branch,) = [b for b in _branches(repo_copy) if b.startswith("refs/heads/retrain/")]
    assert repo_copy.git("show", f"{branch.removeprefix('refs/heads/')}:data.dvc").stdout != pointer_before
    changed = repo_copy.git("diff", "--name-only", "main", "HEAD").stdout.split()
    assert {"data.dvc", "dvc.lock", "metrics.json", "models/manifest.json"} <= set(changed)
    rows = len(read_project_data(repo_copy.path))
    assert json.loads((repo_copy.path / "reports" / "validation.json").read_text())["rows"] == rows
    assert rows == len(read_project_data()) + 60

    again = repo_copy.pipelines("ingest")
    assert "0 new (0 rows), 1 already ingested" in again.stderr
    assert repo_copy.git("status", "--porcelain").stdout == ""


def test_a_batch_that_breaks_the_schema_is_quarantined_fails_the_run_and_its_report_is_kept_for_upload(
    repo_copy: Repo, tmp_path: Path
) -> None:
    """A refused batch reaches a person: the run fails, the summary names the failing checks, the report is
    copied where retrain.yml uploads it from; nothing else changes."""
    source = tmp_path / "source"
    source.mkdir()
    _configure(repo_copy, source=f"{source}/*.csv")
    bad = _batch(2)
    column, value = forbidden_cell()
    bad = bad.astype({column: object})
    bad.loc[5, column] = value
    bad.to_csv(source / "bad.csv", index=False)
    data_before = sorted(p.name for p in (repo_copy.path / "data").iterdir())

    summary, refused = tmp_path / "summary.md", tmp_path / "refused"
    result = repo_copy.pipelines(
        "retrain", "--push", "--summary", str(summary), "--refused-reports", str(refused), check=False
    )

    assert result.returncode == 1, result.stderr
    assert "1 quarantined" in result.stderr and "Nothing to do" in result.stderr
    assert "1 batch(es) broke the data contract" in result.stderr and "Traceback" not in result.stderr
    assert "### Refused batches" in summary.read_text() and column in summary.read_text()
    (folder,) = (repo_copy.path / "quarantine").iterdir()
    assert json.loads((refused / f"{folder.name}.json").read_text())["valid"] is False
    report = json.loads((folder / "report.json").read_text())
    assert report["valid"] is False and report["source"].endswith("bad.csv")
    assert (column, 5) in {(c["column"], c["row"]) for c in report["failure_cases"]}
    assert sorted(p.name for p in (repo_copy.path / "data").iterdir()) == data_before
    assert repo_copy.git("status", "--porcelain").stdout == ""


def test_a_sql_source_is_read_through_a_url_from_the_environment(repo_copy: Repo, tmp_path: Path) -> None:
    database = tmp_path / "warehouse.db"
    with sqlite3.connect(database) as connection:
        _batch(3, rows=25).to_sql("labelled_cases", connection, index=False)
    _configure(repo_copy, sql_url_env="WAREHOUSE_URL", sql_query="SELECT * FROM labelled_cases")
    repo_copy.env = {**repo_copy.env, "WAREHOUSE_URL": f"sqlite:///{database}"}

    result = repo_copy.pipelines("ingest")

    assert "1 new (25 rows)" in result.stderr
    ledger = json.loads((repo_copy.path / "data" / "ingested.json").read_text())
    assert [entry["source"] for entry in ledger.values()] == ["sql:WAREHOUSE_URL"]
    assert "data.dvc" in repo_copy.git("status", "--porcelain").stdout
