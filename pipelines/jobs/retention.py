"""`retention`: delete the service's log files past their maximum age (.github/workflows/monitor.yml, daily).

Retention is code, not a bucket rule, so that it is the same for a local directory and any fsspec URL (s3://...),
reviewed in a pull request, and tested: the prediction log (monitor.logs, else serve.log.directory) keeps
serve.log.max_age_days, the feedback log (monitor.feedback, else serve.feedback.directory) keeps
serve.feedback.retention_days. Whole files are deleted, judged by their newest record (pipelines.core.retention).
"""

from __future__ import annotations

import argparse
import time

from pipelines.adapters.params import load_params
from pipelines.commands import Subparsers, add, say
from pipelines.core.params import feedback_location
from pipelines.core.retention import DAY, Decision, decide
from pipelines.errors import PipelineError

SHOWN = 20  # files named per kind (deleted, kept) before "... and N more"


def apply(location: str, prefix: str, max_age_days: float, key: str, now: float, dry_run: bool) -> list[Decision]:
    """Judge every `prefix`-*.jsonl file at `location` (a directory or fsspec URL) against `max_age_days` (named by
    its params `key` in what is printed) and delete those past it (nothing with `dry_run`); the decisions, in file
    order. PipelineError when the location cannot be listed or a file cannot be read or deleted."""
    from pipelines.adapters import sources

    cutoff = now - max_age_days * DAY
    try:
        paths = sources.list_logs(location, prefix)
        decisions = [decide(path, sources.record_times(path), cutoff, now) for path in paths]
        for decision in decisions:
            if decision.delete and not dry_run:
                sources.remove_log(decision.path)
    except (OSError, ValueError) as exc:  # credentials, a missing bucket, a file that vanished or cannot be read
        raise PipelineError(f"retention: {location}: {type(exc).__name__}: {exc}") from None
    deleted = [d for d in decisions if d.delete]
    verb = "would delete" if dry_run else "deleted"
    kind, kept = prefix.removesuffix("s"), len(decisions) - len(deleted)
    say("retention", f"{kind} log at {location}: {len(decisions)} file(s); {verb} {len(deleted)} whose newest record "
                     f"is older than {max_age_days:g} days ({key}), kept {kept}")  # fmt: skip
    for label, chosen in ((verb, deleted), ("kept", [d for d in decisions if not d.delete])):
        for decision in chosen[:SHOWN]:
            say("retention", f"  {label} {decision.path.rsplit('/', 1)[-1]}: {decision.reason}")
        if len(chosen) > SHOWN:
            say("retention", f"  ... and {len(chosen) - SHOWN} more {label}")
    return decisions


def cmd_retention(args: argparse.Namespace) -> int:
    params = load_params(args.params)
    now = time.time()
    logs = args.logs or params.monitor.logs or params.serve.log.directory
    apply(logs, "predictions", params.serve.log.max_age_days, "serve.log.max_age_days", now, args.dry_run)
    outcomes = feedback_location(params, args.feedback)
    apply(outcomes, "feedback", params.serve.feedback.retention_days, "serve.feedback.retention_days", now,
          args.dry_run)  # fmt: skip
    return 0


def add_commands(sub: Subparsers) -> None:
    """Register retention."""
    p = add(sub, "retention", cmd_retention)
    p.add_argument("--logs", help="prediction-log directory or fsspec URL (default: monitor.logs, else serve.log)")
    p.add_argument("--feedback", help="feedback-log directory or URL (default: monitor.feedback, else serve.feedback)")
    p.add_argument("--dry-run", action="store_true", help="say what would be deleted; delete nothing")
