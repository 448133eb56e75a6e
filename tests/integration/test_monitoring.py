"""Monitoring end to end: the service's prediction-log writer, then `python -m pipelines monitor`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from deploy.predictions import PredictionLog
from pipelines.core.data import default_dataset
from tests.conftest import FEATURES, Repo
from tests.service.conftest import log_settings

pytestmark = [pytest.mark.slow, pytest.mark.example]


def _log(directory: Path, rows: np.ndarray) -> None:
    log = PredictionLog(log_settings(directory, max_file_bytes=200_000))
    log.start()
    for start in range(0, len(rows), 50):
        chunk = rows[start : start + 50].tolist()
        log.offer(FEATURES, chunk, np.zeros(len(chunk)), np.zeros((len(chunk), 2)), "v1")
    log.close()


def test_monitor_reads_the_service_logs_and_flags_only_the_shifted_feature(trained_repo: Repo, tmp_path: Path) -> None:
    data = default_dataset()[FEATURES]
    calm = data.sample(1500, replace=True, random_state=0).to_numpy()
    _log(tmp_path / "calm", calm)
    trained_repo.pipelines("monitor", "--logs", str(tmp_path / "calm"), "--out", str(tmp_path / "calm.md"),
                           "--verdict", str(tmp_path / "calm.json"))  # fmt: skip
    verdict = json.loads((tmp_path / "calm.json").read_text())
    assert verdict["status"] == "ok" and verdict["rows"] == 1500 and verdict["drift"] is False
    assert "## ✅ No drift" in (tmp_path / "calm.md").read_text()

    shifted = data.sample(1500, replace=True, random_state=1)
    shifted["worst_texture"] += 2 * data["worst_texture"].std()
    _log(tmp_path / "shifted", shifted.to_numpy())
    output = tmp_path / "github_output"
    trained_repo.pipelines("monitor", "--logs", str(tmp_path / "shifted"), "--out", str(tmp_path / "shifted.md"),
                           "--verdict", str(tmp_path / "shifted.json"), "--github-output", str(output))  # fmt: skip
    verdict = json.loads((tmp_path / "shifted.json").read_text())
    assert verdict["drifted_features"] == ["worst_texture"]
    assert output.read_text() == "drift=true\nalert=true\n"
    report = (tmp_path / "shifted.md").read_text()
    assert "Drift in 1 feature(s)" in report and "xychart-beta" in report


def test_too_little_traffic_gives_no_verdict(trained_repo: Repo, tmp_path: Path) -> None:
    _log(tmp_path / "few", default_dataset()[FEATURES].head(20).to_numpy())
    trained_repo.pipelines("monitor", "--logs", str(tmp_path / "few"), "--verdict", str(tmp_path / "v.json"),
                           "--out", str(tmp_path / "m.md"))  # fmt: skip
    assert json.loads((tmp_path / "v.json").read_text())["status"] == "not enough data"


def test_the_prediction_log_can_write_to_an_fsspec_url_and_monitor_reads_it_back() -> None:
    """memory:// is a real fsspec filesystem: files appear only when rotated or closed, written whole."""
    import fsspec

    from pipelines.adapters.sources import list_logs, read_logs

    fs = fsspec.filesystem("memory")
    rows = default_dataset()[FEATURES].head(300).to_numpy()
    log = PredictionLog(log_settings("memory://predictions", max_file_bytes=30_000))
    log.start()
    for start in range(0, len(rows), 50):
        chunk = rows[start : start + 50].tolist()
        log.offer(FEATURES, chunk, np.zeros(len(chunk)), np.zeros((len(chunk), 2)), "v1")
    log.close()
    paths = list_logs("memory://predictions")
    assert len(paths) > 1 and all(fs.exists(p) for p in paths)
    live = read_logs(paths, None, 10_000)
    np.testing.assert_allclose(live[FEATURES].to_numpy(), rows)


def test_labelled_live_rows_give_live_metrics_against_the_gate_floors(trained_repo: Repo, tmp_path: Path) -> None:
    _log(tmp_path / "logs", default_dataset()[FEATURES].sample(600, replace=True, random_state=5).to_numpy())
    good = default_dataset().sample(300, random_state=6)
    good.to_csv(tmp_path / "good.csv", index=False)
    trained_repo.pipelines("monitor", "--logs", str(tmp_path / "logs"), "--labelled", str(tmp_path / "good.csv"),
                           "--verdict", str(tmp_path / "good.json"), "--out", str(tmp_path / "good.md"))  # fmt: skip
    verdict = json.loads((tmp_path / "good.json").read_text())
    assert verdict["below_floors"] == [] and verdict["alert"] is False and verdict["live_metrics"]["roc_auc"] > 0.95

    flipped = good.assign(malignant=1 - good["malignant"])  # labels the model now gets wrong
    flipped.to_csv(tmp_path / "bad.csv", index=False)
    trained_repo.pipelines("monitor", "--logs", str(tmp_path / "logs"), "--labelled", str(tmp_path / "bad.csv"),
                           "--verdict", str(tmp_path / "bad.json"), "--out", str(tmp_path / "bad.md"))  # fmt: skip
    verdict = json.loads((tmp_path / "bad.json").read_text())
    assert verdict["alert"] is True and verdict["drift"] is False
    assert any(r.startswith("recall = ") and "below the floor" in r for r in verdict["below_floors"])
    assert "Live metrics on labelled traffic" in (tmp_path / "bad.md").read_text()
