"""The prediction log across replicas: file names carry the writer (the pod), an object-store log is written
out on a timer and on close, and a value JSON cannot hold is counted, never a dead writer."""

from __future__ import annotations

import time

import numpy as np

from deploy.jsonlines import JsonLinesLog, PredictionLogEntry
from tests.helpers.service import log_settings


def _offer(log: JsonLinesLog, n: int = 3) -> None:
    log.offer(PredictionLogEntry(["a", "b"], [[1.0, "x"]] * n, ["yes"] * n, np.full((n, 2), 0.5), "v1"))


def test_two_replicas_writing_to_one_bucket_never_write_the_same_file() -> None:
    import fsspec

    logs = [JsonLinesLog(log_settings("memory://shared-logs", writer=pod)) for pod in ("pod-a", "pod-b")]
    for log in logs:
        log.start()
        _offer(log)
    for log in logs:
        log.close()
    names = sorted(p.rsplit("/", 1)[-1] for p in fsspec.filesystem("memory").glob("/shared-logs/predictions-*.jsonl"))
    assert len(names) == 2 and any("-pod-a-" in n for n in names) and any("-pod-b-" in n for n in names)


def test_an_object_store_log_is_written_out_on_its_timer_before_the_pod_stops() -> None:
    """A pod killed without warning loses at most `flush_seconds` of records: they are in the bucket already."""
    import fsspec

    fs = fsspec.filesystem("memory")
    log = JsonLinesLog(log_settings("memory://timed-logs", writer="pod-c", flush_seconds=0.2))
    log.start()
    _offer(log)
    deadline = time.monotonic() + 5
    while not fs.glob("/timed-logs/predictions-*.jsonl") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fs.glob("/timed-logs/predictions-*.jsonl"), "nothing written within the flush interval"
    _offer(log)
    log.close()
    rows = sum(len(fs.cat(p).splitlines()) for p in fs.glob("/timed-logs/predictions-*.jsonl"))
    assert rows == 2


def test_a_value_json_cannot_hold_is_counted_and_the_writer_keeps_writing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    log = JsonLinesLog(log_settings(tmp_path, writer="pod-d"))
    log.start()
    log.offer(PredictionLogEntry(["a"], [[object()]], ["yes"], None, "v1"))
    _offer(log)
    log.close()
    assert log.dropped == 1
    assert sum(len(p.read_text().splitlines()) for p in tmp_path.glob("predictions-*-pod-d-*.jsonl")) == 1
