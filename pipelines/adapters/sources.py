"""Where data comes from besides data/: fresh batches to ingest, and the service's prediction logs.

Fresh data: fetch batches from the configured source, validate them, append the new ones.

Sources: a path or any fsspec URL with a glob (CSV or Parquet files), or a SQL query through a
SQLAlchemy URL read from an environment variable. Each batch is identified by the sha256 of its
canonical CSV form and written to `data/batch-<hash>.csv`; a ledger (`data/ingested.json`)
records what was taken, so ingesting the same batch twice changes nothing. A batch that breaks
the schema goes to the quarantine directory with its validation report, and nothing else changes.

Prediction logs: the JSON-lines files the service writes (deploy/predictions.py), local or at any
fsspec URL, read back as one frame of logged input rows for drift monitoring.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
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
    quarantined: list[str] = field(default_factory=list)


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
    predictions: Sequence[dict[str, Any]],
    outcomes: dict[str, tuple[float, Any]],
    target: str,
    data_dir: Path,
    location: str,
) -> list[Batch]:
    """One batch of the labelled live rows not ingested yet: each prediction's inputs (as logged) and its latest
    outcome as `target`, one row per prediction id, in id order (so the same rows are the same batch).
    Empty when there is nothing new."""
    done = ingested_ids(data_dir)
    rows: dict[str, tuple[list[str], list[Any]]] = {}
    for row in predictions:
        prediction_id = str(row["id"])
        if prediction_id in outcomes and prediction_id not in done and prediction_id not in rows:
            rows[prediction_id] = (list(row["columns"]), [*row["inputs"], outcomes[prediction_id][1]])
    if not rows:
        return []
    ids = sorted(rows)
    columns = [*rows[ids[0]][0], target]
    frame = pd.DataFrame([rows[i][1] for i in ids], columns=columns)
    return [Batch(f"feedback:{location}", frame, tuple(ids))]


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
        with fsspec.open(path, "rb") as handle:
            for line in handle:
                if line.strip():
                    yield orjson.loads(line)


def read_predictions(paths: Sequence[str], since: float | None, inputs: bool = True) -> list[dict[str, Any]]:
    """Logged prediction rows that carry ids, one dict per row: id, ts, model_hash, role, output (class
    probabilities or the value), classes, columns and (with `inputs`) inputs; `since` in epoch seconds (None: all)."""
    rows = []
    for record in _records(paths):
        if (since is not None and record.get("ts", 0) < since) or not record.get("ids"):
            continue
        outputs = record["probabilities"] if record.get("probabilities") is not None else record["predictions"]
        shared = {
            "ts": record["ts"],
            "model_hash": record.get("model_hash"),
            "classes": record.get("classes"),
            "role": record.get("role") or "champion",
            "columns": record.get("columns"),
        }
        for i, prediction_id in enumerate(record["ids"]):
            rows.append(
                {"id": prediction_id, **shared, "output": outputs[i], "inputs": record["rows"][i] if inputs else []}
            )
    return rows


def read_outcomes(paths: Sequence[str], since: float | None) -> list[dict[str, Any]]:
    """Outcomes from feedback-log files ({id, ts, label | value}), those sent since `since` (None: all)."""
    return [r for r in _records(paths) if since is None or r.get("ts", 0) >= since]


def read_logs(paths: Sequence[str], since: float | None, max_rows: int) -> pd.DataFrame:
    """Logged input rows, newest last, at most `max_rows` of the newest; `since` in epoch seconds (None: all).
    Each request's inputs count once: the challenger's record of the same rows (role "challenger") is skipped."""
    import fsspec
    import orjson

    blocks: dict[tuple[str, ...], list[np.ndarray]] = {}
    for path in paths:
        with fsspec.open(path, "rb") as handle:
            for line in handle:
                record = orjson.loads(line)
                if (since is not None and record.get("ts", 0) < since) or record.get("role") == "challenger":
                    continue
                try:
                    block = np.asarray(record["rows"], dtype=float)  # null becomes NaN
                except (TypeError, ValueError):
                    block = np.asarray(record["rows"], dtype=object)
                blocks.setdefault(tuple(record["columns"]), []).append(block)
    frames = [pd.DataFrame(np.concatenate(arrays), columns=list(columns)) for columns, arrays in blocks.items()]
    if not frames:
        return pd.DataFrame()
    data = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return data.tail(max_rows).reset_index(drop=True)
