"""Offline against online ("The ML Test Score", model test 2): a release's holdout metrics beside its live ones,
apart when their intervals do not overlap; monitor's alert cause, the registry's and the promotion body's table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.core.feedback import offline_vs_live
from pipelines.core.monitor_report import offline_live_table
from tests.helpers.project import PARAMS, ROOT

OFFLINE = {"roc_auc": 0.99, "recall": 0.93}
BANDS = {"roc_auc": {"low": 0.97, "high": 1.0}, "recall": {"low": 0.85, "high": 0.98}}


def _live(roc_auc: float, low: float, high: float) -> dict:
    return {"model_hash": "abc", "metrics": {"roc_auc": roc_auc, "recall": 0.9},
            "intervals": {"roc_auc": {"low": low, "high": high}, "recall": {"low": 0.8, "high": 0.95}}}  # fmt: skip


def test_a_live_metric_whose_interval_misses_the_holdouts_is_apart_and_one_that_overlaps_is_not() -> None:
    rows = offline_vs_live(OFFLINE, BANDS, _live(0.80, 0.74, 0.86), ["roc_auc", "recall", "f1"])
    assert [(r["metric"], r["apart"], r["difference"]) for r in rows] == [("roc_auc", True, -0.19),
                                                                          ("recall", False, -0.03)]  # fmt: skip
    assert not offline_vs_live(OFFLINE, BANDS, _live(0.96, 0.90, 0.98), ["roc_auc"])[0]["apart"]
    assert not offline_vs_live(OFFLINE, None, _live(0.5, 0.4, 0.6), ["roc_auc"])[0]["apart"]  # no interval: not judged
    table = offline_live_table([{"env": "production", "model_hash": "abc", "rows": rows}])
    assert (
        "| `production` | `roc_auc` | 0.9900 [0.9700, 1.0000] | 0.8000 [0.7400, 0.8600] | -0.1900 | ⚠️ apart |" in table
    )
    assert offline_live_table([]) == ""


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


@pytest.mark.example  # roc_auc and recall: the example's binary metrics (a fork's task may report others)
def test_the_running_release_is_found_by_its_model_hash_and_the_registry_shows_it_beside_live(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelines.jobs.live import offline_against_live

    repo, env = tmp_path / "repo", PARAMS.environments.order[-1].name
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    for name in ("dvc.yaml", "params.yaml", "data.dvc"):
        (repo / name).write_bytes((ROOT / name).read_bytes())
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "project")
    _git(repo, "switch", "-qc", env)
    (repo / "models").mkdir()
    (repo / "reports").mkdir()
    (repo / "models" / "manifest.json").write_text(json.dumps({"content_hash": "abc"}))
    (repo / "models" / "release.json").write_text(json.dumps({"model_hash": "abc"}))
    (repo / "metrics.json").write_text(json.dumps(OFFLINE))
    (repo / "reports" / "intervals.json").write_text(json.dumps({"level": 0.95, "metrics": BANDS}))
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "release")
    _git(repo, "switch", "-q", "main")
    monkeypatch.chdir(repo)

    found = offline_against_live(PARAMS, [_live(0.80, 0.74, 0.86), {**_live(0.99, 0.98, 1.0), "model_hash": "zzz"}])
    assert [(f["env"], [r["apart"] for r in f["rows"]]) for f in found] == [(env, [True, False])]
    verdict = tmp_path / "drift.json"
    verdict.write_text(json.dumps({"offline_vs_live": found}))
    command = [sys.executable, "-m", "pipelines", "registry", "--live", str(verdict)]
    env_vars = {**os.environ, "PYTHONPATH": str(ROOT)}
    shown = subprocess.run(command, cwd=repo, env=env_vars, capture_output=True, text=True, check=True)
    assert "### Offline against live" in shown.stdout and f"| `{env}` | `roc_auc` |" in shown.stdout
