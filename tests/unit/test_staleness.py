"""Staleness (pipelines.core.staleness, pipelines.jobs.staleness): on tables whose concept drifts at a built-in
rate, the backtest recovers each rate within its interval, for a label and for a number; the recommendation
follows the floor; without a time column nothing is measured."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipelines.core import staleness
from pipelines.core.params import TrainParams
from pipelines.jobs.staleness import backtest, summarise
from pipelines.template import infer
from tests.helpers.project import PARAMS, ROOT

DAYS, PER_DAY, PERIOD = 140, 300, 7.0


def _drifting(kind: str, rate: float, seed: int) -> pd.DataFrame:
    """DAYS days of PER_DAY rows. A label: y = [x > 0] (or x's tertile), except a share rate x day of the rows,
    growing with time, whose label is another (a concept a model fit earlier cannot know): its accuracy at age a
    after a cut-off c is 1 - rate (c + a), falling by rate x 7 per week. A number: y = x + rate x day + noise: a
    model fit on the rows before c learns the average level, and its mean absolute error grows by rate x 7 per
    week."""
    rng = np.random.default_rng(seed)
    day = np.repeat(np.arange(DAYS), PER_DAY) + rng.uniform(0, 1, DAYS * PER_DAY)
    x, other = rng.normal(size=len(day)), rng.normal(size=len(day))
    if kind == "regression":
        y: Any = x + rate * day + rng.normal(scale=0.05, size=len(day))
    else:
        flipped = rng.uniform(size=len(day)) < rate * day
        if kind == "binary":
            y = np.where((x > 0) != flipped, "yes", "no")
        else:  # three classes by x's tertiles; a flipped row gets the next one
            labels = np.array(["low", "mid", "high"])
            y = labels[(np.digitize(x, [-0.43, 0.43]) + flipped) % 3]
    when = pd.Timestamp("2025-01-01") + pd.to_timedelta(day, unit="D")
    return pd.DataFrame({"x": x, "other": other, "when": when.strftime("%Y-%m-%d %H:%M"), "y": y})


def _params(kind: str) -> Any:
    estimator = "ridge" if kind == "regression" else "logistic_regression"
    train = TrainParams.model_validate({"estimator": estimator, "seed": 0, "reference_bins": 10,
                                        "reference_discrete_max": 20, "ridge": {"alpha": 1.0},
                                        "logistic_regression": {"C": 1.0, "max_iter": 1000}})  # fmt: skip
    metric = "mae" if kind == "regression" else "accuracy"
    settings = PARAMS.staleness.model_copy(update={"metric": metric, "period_days": PERIOD, "windows": 4,
                                                   "cutoffs": 4, "min_rows": 30, "max_retrain_days": 90})  # fmt: skip
    gate = PARAMS.gate.model_copy(update={"floors": {metric: 0.8 if kind != "regression" else 1.5}})
    return PARAMS.model_copy(update={"train": train, "staleness": settings, "gate": gate})


@pytest.mark.parametrize(("kind", "rate"), [("binary", 0.001), ("binary", 0.003), ("multiclass", 0.002),
                                            ("regression", 0.01), ("regression", 0.03)])  # fmt: skip
def test_the_backtest_recovers_each_built_in_decay_rate_within_its_interval(kind: str, rate: float) -> None:
    frame = _drifting(kind, rate, seed=2)  # over seeds 0-11 the binary intervals held the rate 11 and 12 times
    task = kind
    contract = infer.contract_for(infer.infer_columns(frame, "y", task), task)
    times = ((pd.to_datetime(frame["when"]) - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)).to_numpy()
    params = _params(kind)
    doc = summarise(frame["y"].to_numpy(), times, *backtest(frame, times, contract, params), params, task)
    fit = doc["decay"]
    truth = rate * PERIOD * (1 if kind == "regression" else -1)  # mae grows; accuracy falls
    assert fit["low"] <= truth <= fit["high"], (truth, fit)
    assert fit["points"] == 16 and not doc["skipped"]
    # the rows each period holds are scored by up to four cut-offs: resampled once, not counted four times
    # the recommendation: where the interval's faster decay meets the floor, never beyond the cap
    worse = fit["high"] if kind == "regression" else fit["low"]
    expected = min(90.0, staleness.crossing(fit["start"], worse, doc["floor"], kind == "regression") * PERIOD)
    assert doc["recommended_retrain_days"] == pytest.approx(expected, abs=0.05)


def test_the_decay_fit_needs_two_ages_and_no_decay_or_no_floor_recommends_the_cap() -> None:
    flat = [staleness.Point(c, a, 50, 0.9) for c in range(3) for a in (0.5, 1.5, 2.5)]
    fit = staleness.decay(flat, 0.95, np.full((200, 9), 0.9))
    assert fit["slope"] == 0.0 and fit["low"] == fit["high"] == 0.0
    assert staleness.recommend(fit, 0.8, False, 7, 90) == (90, "no decay towards the floor within the interval: "
                                                                "staleness.max_retrain_days")  # fmt: skip
    assert staleness.recommend(fit, None, False, 7, 90)[0] == 90
    too_few = staleness.decay([staleness.Point(0, 0.5, 50, 0.9), staleness.Point(1, 0.5, 50, 0.8)], 0.95,
                              np.zeros((200, 2)))  # fmt: skip
    assert too_few["slope"] is None and "too few to fit" in too_few["reason"]
    assert staleness.crossing(0.9, -0.05, 0.8, False) == pytest.approx(2.0)
    assert staleness.crossing(0.7, -0.05, 0.8, False) == 0.0 and staleness.crossing(0.9, 0.01, 0.8, False) is None
    assert staleness.cutoffs(100.0, 7.0, 4, 3) == [58.0, 65.0, 72.0]
    assert staleness.ages(np.array([71.0, 72.0, 79.5, 99.9, 100.0]), 72.0, 7.0, 4).tolist() == [-1, 0, 1, 3, -1]


def _git(repo: Path, *args: str, days_ago: float = 0) -> str:
    when = f"@{int(time.time() - days_ago * 86400)} +0000"
    env = {**os.environ, "GIT_COMMITTER_DATE": when, "GIT_AUTHOR_DATE": when}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, env=env, capture_output=True, text=True).stdout


def test_retrain_fails_on_data_older_than_the_recommendation_and_monitor_names_an_old_release(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A repository whose data.dvc was last committed 100 days ago, whose last environment's branch runs a model
    trained at that commit, and a staleness report recommending 30 days."""
    import json

    from pipelines.adapters import releases, sources
    from pipelines.jobs import ageing

    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "dvc.yaml").write_bytes((ROOT / "dvc.yaml").read_bytes())
    (repo / "data.dvc").write_bytes((ROOT / "data.dvc").read_bytes())
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "data of record", days_ago=100)
    trained = _git(repo, "rev-parse", "HEAD").strip()
    last = PARAMS.environments.order[-1].name
    _git(repo, "switch", "-qc", last)
    (repo / "models").mkdir()
    (repo / "models" / "manifest.json").write_text(json.dumps({"content_hash": "abc"}))
    (repo / "models" / "release.json").write_text(json.dumps({"model_hash": "abc", "source_commit": trained}))
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "release", days_ago=2)  # released two days ago, trained 100 days ago
    _git(repo, "switch", "-q", "main")
    report = tmp_path / "staleness.json"
    report.write_text(json.dumps({"status": "measured", "recommended_retrain_days": 30}))
    monkeypatch.chdir(repo)

    assert releases.model_ages([last, "nowhere"]) == {last: pytest.approx(100, abs=0.1)}
    quiet = sources.Outcome(added=[], known=[], quarantined=[], refused=[], rows=0)
    stale = ageing.stale_data(str(report), quiet)
    assert stale is not None and stale.startswith("the data of record is 100 days old") and "30-day" in stale
    fresh = sources.Outcome(added=["batch-1.csv"], known=[], quarantined=[], refused=[], rows=10)
    assert ageing.stale_data(str(report), fresh) is None  # fresh data came: the retrain itself answers
    assert ageing.stale_data(None, quiet) is None
    (line,) = ageing.stale_releases(PARAMS, 30)
    assert line == f"{last} runs a model 100 days old, beyond the recommended retrain interval of 30 days"
    assert ageing.stale_releases(PARAMS, 120) == [] and ageing.stale_releases(PARAMS, None) == []


def test_an_order_by_that_is_not_a_time_order_is_refused_by_name() -> None:
    from pipelines.core.data import DataError, time_order

    frame = pd.DataFrame({"region": ["North", "South"], "seq": [2, 1], "when": ["2025-01-02", "2025-01-01 10:00"]})
    with pytest.raises(DataError, match=r"split.order_by: 'region' is not a time order: 'North' is neither"):
        time_order(frame, "region")
    assert time_order(frame, "seq").tolist() == [2, 1]  # a sequence number orders as it is
    assert time_order(frame, "when").argsort().tolist() == [1, 0]
