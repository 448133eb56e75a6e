"""`python -m pipelines retention` on real log files of different ages, local and behind an fsspec URL: a file goes
when its newest record is past the maximum age, whatever its name or modification time say."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipelines.cli import main
from pipelines.core.retention import DAY, decide, name_stamp
from pipelines.jobs.retention import apply
from tests.helpers.project import ROOT

NOW = time.time()


def _stamp(days_ago: float) -> str:
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(NOW - days_ago * DAY))


def _write(path: Path, *lines: Any, mtime_days_ago: float | None = None) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    if mtime_days_ago is not None:
        os.utime(path, (NOW - mtime_days_ago * DAY, NOW - mtime_days_ago * DAY))
    return path


def _record(days_ago: float) -> dict[str, Any]:
    return {"ts": NOW - days_ago * DAY, "columns": ["x"], "rows": [[1.0]], "ids": ["a"], "predictions": [0]}


def test_a_file_goes_by_its_newest_record_whatever_its_name_and_mtime_say(tmp_path: Path) -> None:
    logs = tmp_path / "predictions"
    logs.mkdir()
    old = _write(logs / f"predictions-{_stamp(200)}-pod-000001.jsonl", _record(200), _record(120))
    # built to break a rule by name or mtime: named and touched 300 days ago, its last record is a day old
    late = _write(logs / f"predictions-{_stamp(300)}-pod-000002.jsonl", _record(300), _record(1),
                  mtime_days_ago=300)  # fmt: skip
    # and the other way round: a restored copy, named and touched today, holding only old records
    restored = _write(logs / f"predictions-{_stamp(0)}-pod-000003.jsonl", _record(150), mtime_days_ago=0)
    fresh = _write(logs / f"predictions-{_stamp(2)}-pod-000004.jsonl", _record(2), "not json")
    garbled_old = _write(logs / f"predictions-{_stamp(100)}-pod-000005.jsonl", "cut sh")  # no record: its name
    undated = _write(logs / "predictions-copy.jsonl", "{not json")  # neither: kept, and said to be

    decisions = apply(str(logs), "predictions", 90, "serve.log.max_age_days", NOW, dry_run=False)

    deleted = {Path(d.path).name for d in decisions if d.delete}
    assert deleted == {old.name, restored.name, garbled_old.name}
    assert sorted(p.name for p in logs.iterdir()) == sorted([late.name, fresh.name, undated.name])
    reasons = {Path(d.path).name: d.reason for d in decisions}
    assert reasons[old.name].startswith("newest record ") and "120.0 days old" in reasons[old.name]
    assert "within the retention" in reasons[late.name]
    assert reasons[undated.name] == "no record time and no time in its name: kept, check it by hand"


def test_the_command_reads_both_logs_from_params_says_what_it_did_and_a_dry_run_deletes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    logs, outcomes = tmp_path / "logs", tmp_path / "outcomes"
    logs.mkdir(), outcomes.mkdir()
    params["serve"]["log"]["directory"], params["serve"]["feedback"]["directory"] = str(logs), str(outcomes)
    params["monitor"]["logs"] = params["monitor"]["feedback"] = None
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    max_age, keep = params["serve"]["log"]["max_age_days"], params["serve"]["feedback"]["retention_days"]
    gone = _write(logs / f"predictions-{_stamp(max_age + 1)}-000001.jsonl", _record(max_age + 1))
    _write(logs / f"predictions-{_stamp(max_age - 1)}-000002.jsonl", _record(max_age - 1))
    outcome = {"id": "a" * 37, "label": 1, "source": "api"}
    _write(outcomes / "feedback-import-0123456789abcdef.jsonl", {**outcome, "ts": NOW - (keep - 1) * DAY})
    late = _write(outcomes / "feedback-import-fedcba9876543210.jsonl", {**outcome, "ts": NOW - (keep + 1) * DAY})

    assert main(["retention", "--params", str(tmp_path / "params.yaml"), "--dry-run"]) == 0
    said = capsys.readouterr().err
    assert f"would delete 1 whose newest record is older than {max_age:g} days (serve.log.max_age_days)" in said
    assert f"would delete {gone.name}: newest record" in said and gone.exists() and late.exists()

    assert main(["retention", "--params", str(tmp_path / "params.yaml")]) == 0
    said = capsys.readouterr().err
    assert f"deleted {gone.name}" in said and f"deleted {late.name}" in said and "kept 1" in said
    assert len(list(logs.iterdir())) == len(list(outcomes.iterdir())) == 1


def test_files_behind_an_fsspec_url_are_judged_and_deleted_the_same_way(tmp_path: Path) -> None:
    import fsspec

    root = f"memory://retention-{os.getpid()}-{int(NOW)}"
    fs = fsspec.filesystem("memory")
    names = {"old": f"predictions-{_stamp(1)}-a-000001.jsonl", "new": f"predictions-{_stamp(1)}-a-000002.jsonl"}
    for key, days in (("old", 91), ("new", 1)):
        with fsspec.open(f"{root}/{names[key]}", "w") as handle:
            handle.write(json.dumps(_record(days)) + "\n")
    decisions = apply(root, "predictions", 90, "serve.log.max_age_days", NOW, dry_run=False)
    assert [(Path(d.path).name, d.delete) for d in decisions] == [(names["old"], True), (names["new"], False)]
    assert [Path(p).name for p in fs.ls(root.removeprefix("memory://"), detail=False)] == [names["new"]]


def test_a_file_in_the_window_is_judged_by_its_first_young_record_without_reading_the_rest() -> None:
    def times() -> Any:
        yield NOW - 1 * DAY
        raise AssertionError("read past the first record within the retention")

    assert not decide("predictions-x.jsonl", times(), NOW - 90 * DAY, NOW).delete
    assert name_stamp("predictions-20261399T000000-x-000001.jsonl") is None  # the shape of a stamp, no date
    assert name_stamp("s3://b/p/feedback-20260102T030405-pod-000001.jsonl") == 1767323045.0


def test_feedback_may_not_accept_ids_older_than_the_prediction_log_keeps() -> None:
    """An outcome for a prediction the retention deleted could never be joined: params.yaml is refused, both keys
    named."""
    from pipelines.core.params import ParamsError, parse_params

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["serve"]["feedback"]["max_age_days"] = params["serve"]["log"]["max_age_days"] + 1
    with pytest.raises(ParamsError, match=r"serve: feedback.max_age_days \(\d+\) exceeds log.max_age_days \(\d+\)"):
        parse_params(params)
    del params["serve"]["log"]["max_age_days"]  # no default: a fork that has not taken the key is told so
    with pytest.raises(ParamsError, match=r"serve.log.max_age_days: required key is missing"):
        parse_params(params)
