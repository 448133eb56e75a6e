"""The `validate` stage (dvc.yaml): the raw data checked against the contract, typed, profiled."""

from __future__ import annotations

import argparse
import sys

from pipelines.adapters.params import load_contract, load_params
from pipelines.commands import Subparsers, add, say


def cmd_validate(args: argparse.Namespace) -> int:
    from pipelines.adapters import files
    from pipelines.core.data import profile
    from pipelines.core.validation import DataValidationError, validate

    contract = load_contract()
    frame, sources = files.read_raw(args.data, load_params(args.params).data.missing_values)
    say("validate", f"read {len(frame)} rows from {len(sources)} file(s) under {args.data}")
    source_list = [{"path": s.path, "first_row": s.first_row, "rows": s.rows} for s in sources]
    try:
        validated, report = validate(frame, contract.raw)
    except DataValidationError as exc:
        files.write_json(args.report, {**exc.report.to_dict(), "sources": source_list})
        print(exc.report.summary(), file=sys.stderr)
        say("validate", f"full report: {args.report}; nothing downstream was changed")
        return 1
    # a personal column is profiled by its missing rate only (pipelines.core.privacy)
    summary = profile(validated, contract.personal)
    files.write_json(args.report, {**report.to_dict(), "sources": source_list, "profile": summary})
    files.write_frame(args.out, validated)
    say("validate", report.summary())
    return 0


def add_commands(sub: Subparsers) -> None:
    """Register validate."""
    p = add(sub, "validate", cmd_validate)
    p.add_argument("--data", required=True, help="raw data directory or file")
    p.add_argument("--out", required=True, help="validated, typed data (Parquet)")
    p.add_argument("--report", required=True, help="validation report (JSON), written pass or fail")
