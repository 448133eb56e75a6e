"""The pull-request loop (.github/workflows/pull-request.yml, job `ml-gate`): does the change need the
pipeline (`changed`), the report (`report`) and the merge gate (`gate`). The pipeline run and the
stale-lock check are `reproduce` (jobs.runs); posting the report is pipelines.comment."""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase
from pathlib import Path

from pipelines.adapters import git
from pipelines.adapters.params import load_params
from pipelines.commands import Subparsers, add, annotate, append, say
from pipelines.jobs import judging


def pipeline_relevant(changed: Iterable[str], patterns: Sequence[str]) -> list[str]:
    """The changed paths that match any pattern (fnmatch, where `*` also matches `/`)."""
    return [path for path in changed if any(fnmatchcase(path, pattern) for pattern in patterns)]


def cmd_gate(args: argparse.Namespace) -> int:
    from pipelines.core.reports import gate_summary, gate_table

    judged = judging.gate_inputs("gate", args.params, args.dvc_yaml, args.base)
    verdict = judged.verdict
    reproduced = judging.read_reproduction(args.reproduction)
    print(gate_table(verdict))
    if judged.base is None:
        say("gate", "no metrics committed on the base revision: checking the absolute floors only")
    else:
        say("gate", f"comparison with the base: {judged.comparison[1]}")
    for rule in verdict.rules:
        if rule.kind == "not compared":
            say("gate", f"not compared ({rule.metric}): {rule.reason}")
    reasons = [r.reason for r in verdict.failures]
    if reproduced is not None and not reproduced.ok:
        reasons.insert(0, reproduced.headline())
        annotate("error", reproduced.headline())
    for reason in reasons:
        say("gate", f"FAIL: {reason}")
    append(args.summary, gate_summary(verdict, reasons))
    say("gate", "passed" if not reasons else f"failed: {len(reasons)} problem(s)")
    return 0 if not reasons else 1


def cmd_report(args: argparse.Namespace) -> int:
    from pipelines.adapters import files

    passed = judging.write_report(
        args.base, args.out, args.params, args.dvc_yaml, args.data_dvc, args.run_url, args.images, args.reproduction
    )
    if args.pr_number is not None:
        files.write_json(Path(args.out).with_name("pr.json"), {"number": args.pr_number, "head_sha": args.head_sha})
    say("report", f"wrote {args.out} (gate {'passed' if passed else 'failed'})")
    return 0


def cmd_changed(args: argparse.Namespace) -> int:
    changed = git.changed_files(args.base)
    relevant = pipeline_relevant(changed, load_params(args.params).ci.pipeline_paths)
    for path in relevant:
        print(path)
    verdict = "run it" if relevant else "no training needed"
    say("changed", f"{len(changed)} file(s) changed, {len(relevant)} affect the pipeline: {verdict}")
    append(args.github_output, f"pipeline={'true' if relevant else 'false'}\n")
    return 0


def add_commands(sub: Subparsers) -> None:
    """Register changed, report and gate."""

    def comparison(p: argparse.ArgumentParser) -> None:
        p.add_argument("--base", help="git revision to compare with (its committed metrics.json is the base)")
        p.add_argument("--dvc-yaml", default="dvc.yaml", help="where the pipeline's paths are defined")

    p = add(sub, "gate", cmd_gate)
    comparison(p)
    p.add_argument("--reproduction", help="also fail unless this `reproduce --verdict` file says the outputs reproduce")
    p.add_argument("--summary", help="append the verdict as markdown to this file (e.g. $GITHUB_STEP_SUMMARY)")

    p = add(sub, "report", cmd_report)
    comparison(p)
    p.add_argument("--reproduction", help="a `reproduce --verdict` file to show in the report")
    p.add_argument("--out", default="reports/report.md")
    p.add_argument("--data-dvc", default="data.dvc")
    p.add_argument("--run-url", help="link for the figures artifact (default: this GitHub Actions run)")
    p.add_argument(
        "--images",
        choices=["mermaid", "publish"],
        default="mermaid",
        help="mermaid: charts drawn in the comment (default); publish: link PNGs for cml --publish",
    )
    p.add_argument("--pr-number", type=int, help="also write pr.json (number, head sha) beside the report")
    p.add_argument("--head-sha", help="the pull request's head commit, recorded in pr.json")

    p = add(sub, "changed", cmd_changed)
    p.add_argument("--base", required=True, help="git revision to diff against")
    p.add_argument("--github-output", help="append pipeline=true|false to this file ($GITHUB_OUTPUT)")
