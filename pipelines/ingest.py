"""Fresh data: fetch batches from the configured source, validate them, append the new ones.

Sources: a path or any fsspec URL with a glob (CSV or Parquet files), or a SQL query through a
SQLAlchemy URL read from an environment variable. Each batch is identified by the sha256 of its
canonical CSV form and written to `data/batch-<hash>.csv`; a ledger (`data/ingested.json`)
records what was taken, so ingesting the same batch twice changes nothing. A batch that breaks
the schema goes to the quarantine directory with its validation report, and nothing else changes.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pipelines import files
from pipelines.errors import PipelineError
from pipelines.validation import DataValidationError, validate

LEDGER = "ingested.json"


class IngestError(PipelineError):
    """The source is not configured or cannot be read."""


@dataclass(frozen=True)
class Batch:
    source: str
    frame: pd.DataFrame

    @property
    def csv(self) -> bytes:
        return self.frame.to_csv(index=False, lineterminator="\n").encode()

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.csv).hexdigest()


@dataclass
class Outcome:
    added: list[str] = field(default_factory=list)  # data files written
    rows: int = 0
    known: list[str] = field(default_factory=list)  # sources already ingested
    quarantined: list[str] = field(default_factory=list)


def from_files(pattern: str) -> list[Batch]:
    """Every CSV or Parquet file matching `pattern` (a path or fsspec URL, globs allowed)."""
    import fsspec
    from fsspec.core import url_to_fs

    fs, path = url_to_fs(pattern)
    batches = []
    for name in sorted(fs.glob(path) if any(c in path for c in "*?[") else [path]):
        url = fs.unstrip_protocol(name)
        with fsspec.open(url, "rb") as handle:
            frame = pd.read_parquet(handle) if name.endswith(".parquet") else pd.read_csv(handle)
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


def _ledger(data_dir: Path) -> dict:
    path = data_dir / LEDGER
    return json.loads(path.read_text()) if path.exists() else {}


def pending(batches: list[Batch], data_dir: Path) -> list[Batch]:
    """The valid batches not ingested yet: what `ingest` would append (nothing is written)."""
    ledger = _ledger(data_dir)
    new = []
    for batch in batches:
        if batch.digest in ledger:
            continue
        try:
            validate(batch.frame)
        except DataValidationError:
            continue  # it will be quarantined, not appended
        new.append(batch)
    return new


def ingest(batches: list[Batch], data_dir: Path, quarantine: Path) -> Outcome:
    """Validate each batch and append the new valid ones to `data_dir`; quarantine the invalid."""
    ledger_path = data_dir / LEDGER
    ledger = _ledger(data_dir)
    outcome = Outcome()
    for batch in batches:
        digest = batch.digest
        if digest in ledger:
            outcome.known.append(batch.source)
            continue
        try:
            validate(batch.frame)
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
        outcome.added.append(name)
        outcome.rows += len(batch.frame)
    if outcome.added:
        files.write_json(ledger_path, ledger)
    return outcome
