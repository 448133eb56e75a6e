"""Running the pipeline as `make run`, pull-request.yml and main.yml do: `bootstrap` (make the data
present: `make data`) and `reproduce` (run the stages and judge the outputs against what is committed)."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from pipelines.adapters import dvc, git, tracking
from pipelines.commands import Subparsers, add, annotate, append, say
from pipelines.jobs import judging


def bootstrap(dvc_file: str = "data.dvc") -> str:
    """Make the tracked data present; a one-line account of what happened.

    With a DVC remote: `dvc pull` of the data (it must be there: nothing can be rebuilt without it),
    then of whatever pipeline outputs the remote holds (`dvc repro` rebuilds the others, and the
    reproduction check judges them; deploys never come this way, they fetch by hash). Without one:
    the embedded default dataset, checked against `dvc_file`. Data already present is never
    overwritten, and nothing is left behind when the embedded data is not what `dvc_file` describes.
    """

    from pipelines.adapters import files
    from pipelines.core.data import DEFAULT_FILE, DataError, default_csv, parse_pointer

    pointer = Path(dvc_file)
    try:
        target = pointer.parent / parse_pointer(pointer.read_text(), str(pointer))[0]
    except OSError as exc:
        raise DataError(f"{pointer}: not a readable .dvc file ({exc})") from None
    unpushed = None
    if dvc.has_remote():
        try:
            dvc.pull(dvc_file)
        except dvc.MissingFromRemote as exc:
            unpushed = exc  # the embedded default may still be what dvc_file records (the demo): see below
        except dvc.DvcError as exc:
            raise DataError(f"{exc} (the data {dvc_file} records must be in the DVC remote)") from None
        else:
            dvc.run("pull", "--allow-missing")
            missing = _missing_outputs(pointer.parent / "dvc.lock")
            rebuilt = f"; not in the remote, so `dvc repro` rebuilds them: {', '.join(missing)}" if missing else ""
            return f"pulled {target} and the pipeline outputs from the DVC remote{rebuilt}"
    if target.exists() and (target.is_file() or any(target.iterdir())):
        if dvc.workspace_matches(str(target.relative_to(pointer.parent))):
            dvc.cache(dvc_file)  # so that `dvc status` is clean and `dvc exp` can restore it
            return f"{target} is present and matches {dvc_file}"
        return f"{target} is present but differs from {dvc_file}; after reviewing it, `dvc add {target}` records it"
    with files.atomic_dir(target) as tmp:
        (tmp / DEFAULT_FILE).write_bytes(default_csv())
    if not dvc.workspace_matches(str(target.relative_to(pointer.parent))):
        shutil.rmtree(target)
        if unpushed is not None:
            raise DataError(str(unpushed)) from None
        raise DataError(
            f"{dvc_file} does not describe the embedded default dataset, and no DVC remote is "
            "configured to pull it from: add one with `dvc remote add -d <name> <url>`, then `dvc pull`"
        )
    dvc.cache(dvc_file)
    if unpushed is not None:
        return (
            f"the DVC remote does not hold {dvc_file}'s data yet; it is the embedded default dataset, so it was "
            f"materialised into {target} (`dvc push`, and the record step after a merge, put it in the remote)"
        )
    dvc.cache(dvc_file)
    return f"materialised the default dataset into {target} (matches {dvc_file})"


def _missing_outputs(lock: Path) -> list[str]:
    """Outputs that `lock` records and the workspace does not have."""
    import yaml

    if not lock.exists():
        return []
    stages = (yaml.safe_load(lock.read_text()) or {}).get("stages") or {}
    paths = [out["path"] for body in stages.values() for out in body.get("outs") or []]
    return [path for path in paths if not (lock.parent / path).exists()]


def cmd_track(args: argparse.Namespace) -> int:
    """Log the MLflow runs queued in the spool (the evaluate stage's background runs, or runs MLflow refused)."""

    logged, failures = tracking.flush(Path(args.pending) if args.pending else tracking.PENDING)
    for failure in failures:
        say("track", f"not logged, kept for later: {failure}")
    say("track", f"logged {logged} queued MLflow run(s)" + (f"; {len(failures)} left" if failures else ""))
    return 1 if failures else 0


def cmd_bootstrap(args: argparse.Namespace) -> int:
    say("bootstrap", bootstrap(args.dvc_file))
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from pipelines.adapters import files
    from pipelines.core import reports

    if args.run:
        say("reproduce", "running the pipeline (dvc repro" + (" --force)" if args.force else ")"))
        if dvc.stream("repro", *(["--force"] if args.force else [])) != 0:
            say("reproduce", "dvc repro failed")
            return 1
    if args.advisory and not args.verdict and args.rev == "HEAD" and git.modified(["pipelines/yours/schema.py"]):
        say("reproduce", "nothing of this project is committed yet (pipelines/yours/schema.py differs from HEAD), "
                         "so there is nothing to compare with: commit what init and this run wrote "
                         "(`git add -A && git commit`, docs/FORKING.md)")  # fmt: skip
        return 0
    result = judging.reproduction(args.rev, args.params, args.dvc_yaml, forced=args.run and args.force)
    for finding in result.findings:
        if finding.status != "identical":
            say("reproduce", f"{finding.status:>12}  {finding.stage}: {finding.path}  {finding.detail}")
    say("reproduce", result.headline())
    if result.ok and result.equivalent:
        listed = git.modified(["dvc.lock", *{f.path for f in result.findings}])
        if listed:
            say(
                "reproduce",
                f"git status shows {', '.join(listed)} modified: they now name this machine's build of "
                "the same model; commit them or leave them (README: 'Reproduced, not byte-identical')",
            )
    elif not result.ok:
        annotate("error", result.headline())
    if args.verdict:
        files.write_json(args.verdict, result.to_dict())
    append(args.summary, "### Reproduction\n\n" + reports.reproduction(result))
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    return 0 if result.ok or args.advisory else 1


def add_commands(sub: Subparsers) -> None:
    """Register bootstrap, reproduce and track."""
    p = add(sub, "track", cmd_track, params=False)
    p.add_argument("--pending", help="the spool directory (default: logs/tracking/pending)")
    p = add(
        sub,
        "bootstrap",
        cmd_bootstrap,
        params=False,
    )
    p.add_argument("--dvc-file", default="data.dvc", help="the .dvc file that tracks the raw data")

    p = add(
        sub,
        "reproduce",
        cmd_reproduce,
    )
    p.add_argument("--rev", default="HEAD", help="the revision whose committed outputs are the reference")
    p.add_argument("--no-run", dest="run", action="store_false", help="compare only (after a `dvc repro` of your own)")
    p.add_argument(
        "--force",
        action="store_true",
        help="re-run every stage (dvc repro --force), cached or not: what "
        "the pull-request and main workflows do, so outputs restored from a cache or remote are re-derived",
    )
    p.add_argument("--advisory", action="store_true", help="exit 0 even when the outputs do not reproduce")
    p.add_argument("--verdict", help="write the verdict as JSON here (for `report` and `gate --reproduction`)")
    p.add_argument("--summary", help="append the verdict as markdown to this file ($GITHUB_STEP_SUMMARY)")
    p.add_argument("--json", action="store_true", help="print the verdict as JSON")
    p.add_argument("--dvc-yaml", default="dvc.yaml")
