"""Monitoring end to end, on the project's own data: the service's prediction-log writer, then
`python -m pipelines monitor`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deploy.jsonlines import JsonLinesLog, PredictionLogEntry
from tests.helpers.project import CONTRACT, FEATURES, PARAMS, Repo
from tests.helpers.service import json_rows, log_settings

pytestmark = pytest.mark.slow


def _log(directory: Path, frame: pd.DataFrame) -> None:
    rows = json_rows(frame[FEATURES])
    log = JsonLinesLog(log_settings(directory, max_file_bytes=200_000))
    log.start()
    for start in range(0, len(rows), 50):
        chunk = rows[start : start + 50]
        log.offer(PredictionLogEntry(FEATURES, chunk, [0] * len(chunk), np.zeros((len(chunk), 2)), "v1"))
    log.close()


def _shift(frame: pd.DataFrame, reference: dict) -> tuple[pd.DataFrame, str]:
    """The frame with one input clearly moved: a continuous one by two standard deviations, else the commonest
    value of a categorical or discrete one turned into its rarest."""
    shifted = frame.copy()
    for name, ref in reference["features"].items():
        if ref["kind"] == "numeric":
            shifted[name] = shifted[name] + 2 * frame[name].std()
            return shifted, name
    for name in reference["features"]:
        counts = frame[name].value_counts()
        if len(counts) >= 2:
            shifted[name] = shifted[name].replace(counts.index[0], counts.index[-1])
            return shifted, name
    pytest.skip("no input of the project can be shifted")


def test_monitor_reads_the_service_logs_and_flags_only_the_shifted_feature(
    trained_repo: Repo, tmp_path: Path, project_split
) -> None:  # type: ignore[no-untyped-def]
    data = project_split[0][FEATURES]
    _log(tmp_path / "calm", data.sample(1500, replace=True, random_state=0))
    trained_repo.pipelines("monitor", "--logs", str(tmp_path / "calm"), "--out", str(tmp_path / "calm.md"),
                           "--verdict", str(tmp_path / "calm.json"))  # fmt: skip
    verdict = json.loads((tmp_path / "calm.json").read_text())
    assert verdict["status"] == "ok" and verdict["rows"] == 1500 and verdict["drift"] is False
    assert "## ✅ No drift" in (tmp_path / "calm.md").read_text()

    reference = json.loads((trained_repo.path / "models" / "reference.json").read_text())
    shifted, feature = _shift(data.sample(1500, replace=True, random_state=1), reference)
    _log(tmp_path / "shifted", shifted)
    output = tmp_path / "github_output"
    trained_repo.pipelines("monitor", "--logs", str(tmp_path / "shifted"), "--out", str(tmp_path / "shifted.md"),
                           "--verdict", str(tmp_path / "shifted.json"), "--github-output", str(output))  # fmt: skip
    verdict = json.loads((tmp_path / "shifted.json").read_text())
    assert verdict["drifted_features"] == [feature]
    assert output.read_text() == "drift=true\nalert=true\n"
    report = (tmp_path / "shifted.md").read_text()
    assert "Drift in 1 feature(s)" in report and "xychart-beta" in report


def test_too_little_traffic_gives_no_verdict(trained_repo: Repo, tmp_path: Path, project_frame) -> None:  # type: ignore[no-untyped-def]
    _log(tmp_path / "few", project_frame.head(PARAMS.monitor.min_rows - 1))
    trained_repo.pipelines("monitor", "--logs", str(tmp_path / "few"), "--verdict", str(tmp_path / "v.json"),
                           "--out", str(tmp_path / "m.md"))  # fmt: skip
    assert json.loads((tmp_path / "v.json").read_text())["status"] == "not enough data"


def test_no_log_location_or_an_empty_one_is_a_visible_warning_not_quiet_traffic(
    trained_repo: Repo, tmp_path: Path
) -> None:
    """The scheduled job on a runner: with monitor.logs null the service's local folder is not there; a
    configured location with no log at all is more likely wrong than quiet. Both warn, in the step summary
    and the verdict, instead of a green "not enough data"."""
    import yaml

    params = yaml.safe_load((trained_repo.path / "params.yaml").read_text())
    params["serve"]["log"]["directory"] = str(tmp_path / "never-written")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    args = ["--params", str(tmp_path / "params.yaml"), "--out", str(tmp_path / "m.md")]
    for configured in (None, str(tmp_path / "empty")):
        summary, verdict = tmp_path / f"summary-{bool(configured)}.md", tmp_path / f"v-{bool(configured)}.json"
        extra = ["--logs", configured] if configured else []
        trained_repo.pipelines("monitor", *args, *extra, "--verdict", str(verdict), "--summary", str(summary))
        found = json.loads(verdict.read_text())
        assert found["status"] == "no logs", found
        expected = "monitor.logs is null" if configured is None else "holds no prediction log at all"
        assert expected in found["problem"] and expected in summary.read_text()
        assert "No prediction logs" in (tmp_path / "m.md").read_text()


def test_the_prediction_log_can_write_to_an_fsspec_url_and_monitor_reads_it_back(project_frame) -> None:  # type: ignore[no-untyped-def]
    """memory:// is a real fsspec filesystem: files appear only when rotated or closed, written whole."""
    import fsspec

    from pipelines.adapters.sources import list_logs, read_logs

    fs = fsspec.filesystem("memory")
    frame = pd.concat([project_frame[FEATURES]] * 2, ignore_index=True).head(300)
    rows = json_rows(frame)
    size = len(json.dumps({"rows": rows[:50]}))  # one request's record: rotate after about two of them
    log = JsonLinesLog(log_settings("memory://round-trip", max_file_bytes=2 * size))
    log.start()
    for start in range(0, len(rows), 50):
        chunk = rows[start : start + 50]
        log.offer(PredictionLogEntry(FEATURES, chunk, [0] * len(chunk), np.zeros((len(chunk), 2)), "v1"))
    log.close()
    paths = list_logs("memory://round-trip")
    assert len(paths) > 1 and all(fs.exists(p) for p in paths)
    live = read_logs(paths, None, 10_000)
    assert json_rows(live[FEATURES]) == rows


def test_labelled_live_rows_give_live_metrics_against_the_gate_floors(
    trained_repo: Repo, tmp_path: Path, project_split
) -> None:  # type: ignore[no-untyped-def]
    train, test = project_split
    _log(tmp_path / "logs", train.sample(600, replace=True, random_state=5))
    # every labelled row: a sample of 300 holds about 7 positives of a 2.4 % class, and its F1 alone can fall
    # below a floor set on the holdout; on all rows the live metrics are the model's, not the sample's noise
    good = pd.concat([train, test])
    good.to_csv(tmp_path / "good.csv", index=False)
    trained_repo.pipelines("monitor", "--logs", str(tmp_path / "logs"), "--labelled", str(tmp_path / "good.csv"),
                           "--verdict", str(tmp_path / "good.json"), "--out", str(tmp_path / "good.md"))  # fmt: skip
    verdict = json.loads((tmp_path / "good.json").read_text())
    assert verdict["below_floors"] == [] and verdict["alert"] is False, verdict["alert_causes"]
    assert set(PARAMS.gate.floors) <= set(verdict["live_metrics"])

    target = CONTRACT.target
    if CONTRACT.task == "regression":  # values the model now gets wrong
        flipped = good.assign(**{target: good[target].max() + good[target].min() - good[target]})
    else:  # labels the model now gets wrong: each class becomes the next one
        classes = sorted(good[target].unique())
        flipped = good.assign(**{target: good[target].map(dict(zip(classes, classes[1:] + classes[:1], strict=True)))})
    flipped.to_csv(tmp_path / "bad.csv", index=False)
    trained_repo.pipelines("monitor", "--logs", str(tmp_path / "logs"), "--labelled", str(tmp_path / "bad.csv"),
                           "--verdict", str(tmp_path / "bad.json"), "--out", str(tmp_path / "bad.md"))  # fmt: skip
    verdict = json.loads((tmp_path / "bad.json").read_text())
    assert verdict["alert"] is True and verdict["drift"] is False, verdict["alert_causes"]
    assert any(r.split(" = ")[0] in PARAMS.gate.floors for r in verdict["below_floors"]), verdict["below_floors"]
    assert verdict["alert_causes"] == [f"below its floor: {r}" for r in verdict["below_floors"]]
    assert "Live metrics on labelled traffic" in (tmp_path / "bad.md").read_text()
