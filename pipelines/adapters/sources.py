"""Where data comes from besides data/: fresh batches to ingest, and the service's prediction logs.

Fresh data: fetch batches from the configured source, validate them, append the new ones.

Sources: a path or any fsspec URL with a glob (CSV or Parquet files), or a SQL query through a
SQLAlchemy URL read from an environment variable. Each batch is identified by the sha256 of its
canonical CSV form and written to `data/batch-<hash>.csv`; a ledger (`data/ingested.json`)
records what was taken, so ingesting the same batch twice changes nothing. A batch that breaks
the schema goes to the quarantine directory with its validation report, and nothing else changes.

Prediction logs: the JSON-lines files the service writes (deploy/jsonlines.py), local or at any
fsspec URL, read back as one frame of logged input rows for drift monitoring; their record times, and their
deletion, for `retention`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

from pipelines.adapters import files
from pipelines.core.validation import DataValidationError, validate
from pipelines.errors import PipelineError

LEDGER = "ingested.json"


class IngestError(PipelineError):
    """The source is not configured or cannot be read."""


@dataclass(frozen=True)
class Batch:
    """One batch of fresh rows and where it came from."""

    source: str
    frame: pd.DataFrame
    ids: tuple[str, ...] = ()  # for a batch of live outcomes: the prediction ids of its rows (kept in the ledger)

    @functools.cached_property
    def csv(self) -> bytes:
        """The canonical CSV form: what is written to data/ and hashed."""
        return self.frame.to_csv(index=False, lineterminator="\n").encode()

    @functools.cached_property
    def digest(self) -> str:
        """sha256 of the canonical CSV: the batch's identity in the ledger."""
        return hashlib.sha256(self.csv).hexdigest()


@dataclass
class Outcome:
    """What an ingest did: files added (and rows), sources already ingested, batches quarantined."""

    added: list[str] = field(default_factory=list)  # data files written
    rows: int = 0
    known: list[str] = field(default_factory=list)  # sources already ingested
    quarantined: list[str] = field(default_factory=list)  # "source -> quarantine/<digest>"
    refused: list[tuple[Path, str]] = field(default_factory=list)  # (quarantine folder, source and failing checks)


def from_files(pattern: str, missing_values: Sequence[str]) -> list[Batch]:
    """Every CSV or Parquet file matching `pattern` (a path or fsspec URL, globs allowed); in CSV files only
    `missing_values` (params.yaml data.missing_values) are missing."""
    import fsspec
    from fsspec.core import url_to_fs

    fs, path = url_to_fs(pattern)
    batches = []
    for name in sorted(fs.glob(path) if any(c in path for c in "*?[") else [path]):
        url = fs.unstrip_protocol(name)
        with fsspec.open(url, "rb") as handle:
            frame = files.read_table(handle, missing_values, name=name)
        batches.append(Batch(url, frame))
    return batches


def from_sql(url_env: str, query: str) -> list[Batch]:
    """One batch: the result of `query` on the database whose SQLAlchemy URL is in $`url_env`."""
    from sqlalchemy import create_engine

    url = os.environ.get(url_env)
    if not url:
        raise IngestError(f"environment variable {url_env} (the database URL) is not set")
    engine = create_engine(url)
    try:
        frame = pd.read_sql_query(query, engine)
    finally:
        engine.dispose()
    return [Batch(f"sql:{url_env}", frame)]


def _ledger(data_dir: Path) -> dict[str, Any]:
    path = data_dir / LEDGER
    return json.loads(path.read_text()) if path.exists() else {}


def ingested_ids(data_dir: Path) -> set[str]:
    """The prediction ids whose outcomes are already in the data (ledger entries of feedback batches)."""
    return {i for entry in _ledger(data_dir).values() for i in entry.get("ids", ())}


def from_feedback(
    logged: dict[str, Any],
    outcomes: dict[str, tuple[float, Any]],
    target: str,
    data_dir: Path,
    location: str,
) -> list[Batch]:
    """One batch of the labelled live rows not ingested yet: the champion's logged inputs (Logged, read with
    inputs) and each prediction's latest outcome as `target`, one row per prediction id, in id order (so the
    same rows are the same batch). Empty when there is nothing new."""
    from pipelines.core.feedback import first_per_id

    done = ingested_ids(data_dir)
    pieces = []
    for _, log in sorted(logged.items()):
        if log.role != "champion" or log.inputs is None:
            continue
        first = first_per_id(log.ids, log.ts)
        new = np.fromiter((i in outcomes and i not in done for i in log.ids[first]), dtype=bool, count=len(first))
        rows = first[new]
        piece = pd.DataFrame(log.inputs[rows], columns=log.columns, index=log.ids[rows])
        piece[target] = [outcomes[i][1] for i in log.ids[rows]]
        pieces.append(piece)
    if not pieces or not sum(len(p) for p in pieces):
        return []
    frame = pd.concat(pieces)
    frame = frame[~frame.index.duplicated()].sort_index()
    ids = tuple(str(i) for i in frame.index)
    return [Batch(f"feedback:{location}", frame.reset_index(drop=True).infer_objects(), ids)]


def pending(batches: list[Batch], data_dir: Path, schema: pa.DataFrameSchema) -> list[Batch]:
    """The batches valid against `schema` and not ingested yet: what `ingest` would append (nothing is written)."""
    ledger = _ledger(data_dir)
    new = []
    for batch in batches:
        if batch.digest in ledger:
            continue
        try:
            validate(batch.frame, schema)
        except DataValidationError:
            continue  # it will be quarantined, not appended
        new.append(batch)
    return new


def ingest(batches: list[Batch], data_dir: Path, quarantine: Path, schema: pa.DataFrameSchema) -> Outcome:
    """Validate each batch against `schema` and append the new valid ones to `data_dir`; quarantine the invalid."""
    ledger_path = data_dir / LEDGER
    ledger = _ledger(data_dir)
    outcome = Outcome()
    for batch in batches:
        digest = batch.digest
        if digest in ledger:
            outcome.known.append(batch.source)
            continue
        try:
            validate(batch.frame, schema)
        except DataValidationError as exc:
            target = quarantine / digest[:16]
            target.mkdir(parents=True, exist_ok=True)
            files.write_text(target / "data.csv", batch.csv.decode())
            files.write_json(target / "report.json", {**exc.report.to_dict(), "source": batch.source})
            outcome.quarantined.append(f"{batch.source} -> {target}")
            outcome.refused.append((target, f"{batch.source}: {exc.report.summary(limit=5)}"))
            continue
        name = f"batch-{digest[:16]}.csv"
        with files.atomic_path(data_dir / name) as tmp:
            tmp.write_bytes(batch.csv)
        ledger[digest] = {"source": batch.source, "file": name, "rows": len(batch.frame)}
        if batch.ids:
            ledger[digest]["ids"] = list(batch.ids)
        outcome.added.append(name)
        outcome.rows += len(batch.frame)
    if outcome.added:
        files.write_json(ledger_path, ledger)
    return outcome


def list_logs(location: str, prefix: str = "predictions") -> list[str]:
    """Log files (`prefix`: predictions, or feedback) under a local directory or any fsspec URL, oldest first."""
    from fsspec.core import url_to_fs

    fs, root = url_to_fs(location)
    found = sorted(fs.glob(f"{root.rstrip('/')}/{prefix}-*.jsonl"))
    return [fs.unstrip_protocol(path) for path in found]


def _records(paths: Sequence[str]) -> Any:
    import fsspec
    import orjson

    for path in paths:
        skipped = 0
        with fsspec.open(path, "rb") as handle:
            for line in handle:
                if not line.strip():
                    continue
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError:  # a line cut short (a killed writer) or not JSON
                    skipped += 1
                    continue
                if isinstance(record, dict):
                    yield record
                else:
                    skipped += 1
        if skipped:
            print(f"[logs] {path}: skipped {skipped} unreadable line(s)", file=sys.stderr, flush=True)


def record_times(path: str) -> Any:
    """The `ts` (epoch seconds) of each readable record of one log file (local path or fsspec URL), lazily, in
    file order: what pipelines.core.retention.decide judges a file by."""
    for record in _records([path]):
        ts = record.get("ts")
        if isinstance(ts, (int, float)) and not isinstance(ts, bool):
            yield float(ts)


def remove_log(path: str) -> None:
    """Delete one log file (local path or fsspec URL)."""
    from fsspec.core import url_to_fs

    fs, where = url_to_fs(path)
    fs.rm(where)


def _outcome(record: dict[str, Any]) -> bool:
    """Whether a feedback-log record is well formed: a text id, a numeric ts, one scalar label or value."""
    ts, field = record.get("ts"), "label" if "label" in record else "value"
    return (
        isinstance(record.get("id"), str)
        and isinstance(ts, (int, float)) and not isinstance(ts, bool)
        and isinstance(record.get(field), (str, int, float, bool))
    )  # fmt: skip


def read_outcomes(paths: Sequence[str], since: float | None) -> list[dict[str, Any]]:
    """Outcomes from feedback-log files ({id, ts, label | value}), those sent since `since` (None: all)."""
    found = [r for r in _records(paths) if _outcome(r)]
    return [r for r in found if since is None or r["ts"] >= since]


def _block(rows: list[list[Any]]) -> np.ndarray:
    """One record's input rows: float64 when every value is a number or null (NaN), else object."""
    try:
        return np.asarray(rows, dtype=float)
    except (TypeError, ValueError):
        return np.asarray(rows, dtype=object)


def scan_logs(
    paths: Sequence[str], since: float | None, max_rows: int, predictions: bool = False, inputs: bool = False
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One pass over the prediction log: the logged input rows for drift (newest last, at most `max_rows` of the
    newest; each request once); and with `predictions`, per model hash (the champion's and, nested in the same
    records, the challenger's) its logged predictions as pipelines.core.feedback.Logged (ids, times, outputs;
    with `inputs`, the inputs too). `since` in epoch seconds (None: all)."""
    from pipelines.core.feedback import Logged

    drift: dict[tuple[str, ...], list[np.ndarray]] = {}
    models: dict[str, dict[str, Any]] = {}
    for record in _records(paths):
        if not isinstance(record.get("ts"), (int, float)) or not isinstance(record.get("rows"), list):
            continue  # not a prediction record
        if since is not None and record["ts"] < since:
            continue
        block = _block(record["rows"]) if max_rows > 0 or inputs else np.empty(0)
        if max_rows > 0:
            drift.setdefault(tuple(record["columns"]), []).append(block)
        if not predictions or not record.get("ids"):
            continue
        entries = [record]
        if record.get("challenger"):  # the shadow model's output on the same rows, in the same record
            entries.append({**record, **record["challenger"], "role": "challenger"})
        for entry in entries:
            fresh: dict[str, Any] = {"role": set(), "classes": None, "ids": [], "ts": [], "output": [], "inputs": [],
                                     "columns": record.get("columns") or [], "capped": set()}  # fmt: skip
            model = models.setdefault(str(entry.get("model_hash")), fresh)
            model["role"].add(entry.get("role") or "champion")
            model["classes"] = model["classes"] or entry.get("classes")
            model["ids"] += entry["ids"]
            if record.get("truncated"):  # the request's later rows (same id prefix) were not logged
                model["capped"].add(str(entry["ids"][0])[:23])
            model["ts"].append((entry["ts"], len(entry["ids"])))
            output = entry["probabilities"] if entry.get("probabilities") is not None else entry["predictions"]
            model["output"].append(np.asarray(output, dtype=float))
            if inputs:
                model["inputs"].append(block.astype(object))
    logged = {}
    for model_hash, m in models.items():
        ids = np.empty(len(m["ids"]), dtype=object)
        ids[:] = m["ids"]
        times = np.repeat([t for t, _ in m["ts"]], [k for _, k in m["ts"]]).astype(float)
        logged[model_hash] = Logged(model_hash, "champion" if "champion" in m["role"] else "challenger",
                                    m["classes"], list(m["columns"]), ids, times, np.concatenate(m["output"]),
                                    np.concatenate(m["inputs"]) if inputs else None,
                                    frozenset(m["capped"]))  # fmt: skip
    frames = [pd.DataFrame(np.concatenate(arrays), columns=list(columns)) for columns, arrays in drift.items()]
    if not frames:
        return pd.DataFrame(), logged
    data = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return data.tail(max_rows).reset_index(drop=True), logged


def read_logs(paths: Sequence[str], since: float | None, max_rows: int) -> pd.DataFrame:
    """Logged input rows for drift: scan_logs' frame."""
    return scan_logs(paths, since, max_rows)[0]


def read_predictions(paths: Sequence[str], since: float | None, inputs: bool = True) -> dict[str, Any]:
    """Logged predictions per model hash (pipelines.core.feedback.Logged): scan_logs without the drift frame."""
    return scan_logs(paths, since, 0, predictions=True, inputs=inputs)[1]
