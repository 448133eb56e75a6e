"""`feedback import`: outcomes for logged predictions, imported from another system (a file or SQL) into the
feedback log. Joining and scoring them is pipelines.jobs.live; their Prometheus export is
pipelines.adapters.metrics_export."""

from __future__ import annotations

import argparse
import hashlib
import os
import time
from typing import TYPE_CHECKING

from pipelines.adapters.params import load_contract, load_params
from pipelines.commands import SUMMARIES, Subparsers, add, say
from pipelines.core.params import feedback_location
from pipelines.errors import PipelineError

if TYPE_CHECKING:
    import pandas as pd


def _read_outcomes(args: argparse.Namespace, missing_values: list[str]) -> tuple[pd.DataFrame, str]:
    """The table to import and where it came from; PipelineError (one line, no values) when it cannot be read."""
    from pipelines.adapters import files, sources

    if not args.file:
        from pandas.errors import DatabaseError
        from sqlalchemy.exc import SQLAlchemyError

        if not args.query:
            raise PipelineError("--sql-url-env needs --query (the query returning the ids and outcomes)")
        try:
            (batch,) = sources.from_sql(args.sql_url_env, args.query)
        except (SQLAlchemyError, DatabaseError) as exc:
            raise PipelineError(f"sql:{args.sql_url_env}: the query failed ({type(exc).__name__})") from None
        return batch.frame, batch.source
    import fsspec
    import pandas as pd

    try:
        with fsspec.open(args.file, "rb") as handle:
            return files.read_table(handle, missing_values, name=args.file), f"file:{args.file}"
    except pd.errors.EmptyDataError:  # a 0-byte file: no outcomes
        return pd.DataFrame(), f"file:{args.file}"
    except FileNotFoundError:
        raise PipelineError(f"{args.file}: no such file") from None
    except (ValueError, UnicodeDecodeError, OSError) as exc:  # not CSV/Parquet, not UTF-8, truncated
        raise PipelineError(f"{args.file}: cannot be read as CSV (UTF-8) or Parquet ({type(exc).__name__})") from None


def cmd_feedback_import(args: argparse.Namespace) -> int:
    """Outcomes from a file (CSV or Parquet, path or fsspec URL) or a SQL query, appended to the feedback log as
    one content-addressed file: importing the same outcomes twice writes nothing new."""

    import fsspec
    import orjson

    from pipelines.core.outcomes import from_table

    params, contract = load_params(args.params), load_contract()
    frame, source = _read_outcomes(args, params.data.missing_values)
    column = args.outcome_column or contract.target
    ts_column = args.ts_column or ("ts" if "ts" in frame.columns and column != "ts" else None)
    now = time.time()
    max_age = params.serve.feedback.max_age_days
    pairs = from_table(frame, args.id_column, column, ts_column, now, max_age, contract, source) if len(frame) else []
    if not pairs:
        say("feedback import", f"{source} has no outcomes: nothing to import")
        return 0
    field = "value" if contract.task == "regression" else "label"
    digest = hashlib.sha256(orjson.dumps(pairs if ts_column else [p[:2] for p in pairs])).hexdigest()[:16]
    lines = [orjson.dumps({"id": i, field: outcome, "ts": ts, "source": source}) for i, outcome, ts in pairs]

    location = feedback_location(params, args.to)
    target_path = f"{location.rstrip('/')}/feedback-import-{digest}.jsonl"
    fs, path = fsspec.core.url_to_fs(target_path)
    if fs.exists(path):
        say("feedback import", f"{len(lines)} outcome(s) from {source} were imported already ({target_path})")
        return 0
    if "://" not in location:
        os.makedirs(location, exist_ok=True)
    with fsspec.open(target_path + ".partial", "wb") as out:
        out.write(b"\n".join(lines) + b"\n")
    fs.mv(path + ".partial", path)
    say("feedback import", f"{len(lines)} outcome(s) from {source} -> {target_path}")
    return 0


def add_commands(sub: Subparsers) -> None:
    """Register feedback (its action: import)."""
    about = SUMMARIES["feedback"]
    actions = sub.add_parser("feedback", help=about, description=about).add_subparsers(
        dest="action", required=True, metavar="<action>"
    )
    p = add(actions, "import", cmd_feedback_import, help="append outcomes for prediction ids from a file or SQL query")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--file", help="CSV or Parquet with the ids and outcomes (path or fsspec URL)")
    source.add_argument("--sql-url-env", help="NAME of the environment variable holding a SQLAlchemy URL")
    p.add_argument("--query", help="with --sql-url-env: the query returning the ids and outcomes")
    p.add_argument("--id-column", default="id", help="the column of prediction ids (default: id)")
    p.add_argument("--outcome-column", help="the column of outcomes (default: the target's name)")
    p.add_argument("--ts-column", help="when each outcome was known: epoch seconds or a date-time (default: ts when "
                   "present, else the time of the import); the latest outcome per id wins")  # fmt: skip
    p.add_argument("--to", help="the feedback log (default: monitor.feedback, else serve.feedback.directory)")
