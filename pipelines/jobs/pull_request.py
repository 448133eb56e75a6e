"""The pull-request loop (.github/workflows/pull-request.yml, job `ml-gate`): does the change need the
pipeline (`changed`), the report (`report`) and the merge gate (`gate`). The pipeline run and the
stale-lock check are `reproduce` (jobs.stages); posting the report is pipelines.comment."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from pipelines.commands import add, annotate, append, refuse_stale, say

STAGE_SECTIONS = ("split", "train", "evaluate")
"""The params.yaml sections the pipeline's stages read: what reports compare between revisions."""


def pipeline_relevant(changed: Iterable[str], patterns: Sequence[str]) -> list[str]:
    """The changed paths that match any pattern (fnmatch, where `*` also matches `/`)."""
    return [path for path in changed if any(fnmatchcase(path, pattern) for pattern in patterns)]


def stage_params(flat: dict[str, Any] | None) -> dict[str, Any] | None:
    """The pipeline stages' params only, so both sides of a report compare the same slice."""
    return None if flat is None else {k: v for k, v in flat.items() if k.split(".")[0] in STAGE_SECTIONS}


def _gate_inputs(
    command: str, params_file: str, dvc_yaml: str, base_rev: str | None
) -> tuple[Any, dict[str, str], dict[str, float], Any, Any, Any, Any]:
    """Params, paths, this branch's metrics, the base's metrics (None if absent), the verdict, the contract, and
    the paired comparison with the base: (per metric difference and interval, or None; how it was made)."""
    import json

    from pipelines.adapters import git, revisions
    from pipelines.adapters.params import load_contract, load_params, load_paths
    from pipelines.core.gate import check, check_task

    params, paths, contract = load_params(params_file), load_paths(dvc_yaml), load_contract()
    check_task(params.gate, contract.task)
    refuse_stale(command)
    metrics = json.loads(Path(paths["metrics"]).read_text())
    if base_rev and git.resolve(base_rev) is None:
        raise git.GitError(f"base revision {base_rev!r} not found (fetch it, e.g. checkout with fetch-depth: 0)")
    base = revisions.metrics(base_rev, paths["metrics"]) if base_rev else None
    comparison: tuple[Any, str] = (None, "no base")
    if base_rev and base is not None:
        comparison = (
            revisions.paired_with_base(base_rev, paths, params, contract)
            if Path(paths["test"]).exists()
            else (None, f"unpaired: {paths['test']} is not in the workspace (run `dvc repro`)")
        )
    level = params.evaluate.intervals.level
    verdict = check(metrics, base, params.gate, comparison[0], level)
    return params, paths, metrics, base, verdict, contract, comparison


def _read_reproduction(path: str | None) -> Any:
    """The verdict `reproduce --force --verdict` wrote for HEAD, or None when no path was given.

    PipelineError when the file is unreadable, or written at another commit, or when it says the outputs
    reproduce but was written without --force (outputs restored from a DVC cache or remote were then
    never re-derived). A verdict that says they do not reproduce stands as it is.
    """
    import json

    from pipelines.adapters import git
    from pipelines.core.reproduce import Reproduction
    from pipelines.errors import PipelineError

    if path is None:
        return None
    again = f"run `python -m pipelines reproduce --force --verdict {path}` first"
    try:
        verdict = Reproduction.from_dict(json.loads(Path(path).read_text()))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PipelineError(f"{path}: no readable reproduction verdict ({exc}); {again}") from None
    head = git.resolve("HEAD")
    if verdict.rev != head:
        raise PipelineError(f"{path} judges commit {verdict.rev[:12]}, not HEAD ({str(head)[:12]}); {again}")
    if verdict.ok and not verdict.forced:
        raise PipelineError(f"{path} was written without --force, so cached outputs were not re-derived; {again}")
    return verdict


def cmd_gate(args: argparse.Namespace) -> int:
    from pipelines.core.reports import gate_summary, gate_table

    _, _, _, base, verdict, _, (_, pairing) = _gate_inputs("gate", args.params, args.dvc_yaml, args.base)
    reproduced = _read_reproduction(args.reproduction)
    print(gate_table(verdict))
    if base is None:
        say("gate", "no baseline metrics on the base revision: checking the absolute floors only")
    else:
        say("gate", f"comparison with the base: {pairing}")
    reasons = [r.reason for r in verdict.failures]
    if reproduced is not None and not reproduced.ok:
        reasons.insert(0, reproduced.headline())
        annotate("error", reproduced.headline())
    for reason in reasons:
        say("gate", f"FAIL: {reason}")
    append(args.summary, gate_summary(verdict, reasons))
    say("gate", "passed" if not reasons else f"failed: {len(reasons)} problem(s)")
    return 0 if not reasons else 1


def _run_url() -> str | None:
    """This GitHub Actions run's page (where the figures artifact is), when running in one."""
    if not os.environ.get("GITHUB_RUN_ID"):
        return None
    server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
    return f"{server}/{os.environ.get('GITHUB_REPOSITORY', '')}/actions/runs/{os.environ['GITHUB_RUN_ID']}"


def write_report(
    base_rev: str | None,
    out: str,
    params_file: str = "params.yaml",
    dvc_yaml: str = "dvc.yaml",
    data_dvc: str = "data.dvc",
    run_url: str | None = None,
    images: str = "mermaid",
    reproduction: str | None = None,
) -> bool:
    """Write the pull-request report of the workspace against `base_rev` to `out`; whether the gate passed
    (the rules and, with `reproduction`, the committed outputs' reproduction)."""
    from pipelines.adapters import files, git, revisions
    from pipelines.core.params import flatten
    from pipelines.core.reports import ReportInputs, build

    params, paths, metrics, base_metrics, verdict, contract, (paired, pairing) = _gate_inputs(
        "report", params_file, dvc_yaml, base_rev
    )
    base = git.resolve(base_rev) if base_rev else None
    inputs = ReportInputs(
        metrics=metrics,
        base_metrics=base_metrics,
        params=flatten(params.model_dump(include=set(STAGE_SECTIONS))),
        base_params=stage_params(revisions.params(base, params_file)) if base else None,
        verdict=verdict,
        plots=revisions.read_plots(paths["plots"], contract.task),
        base_plots=revisions.plots(base, paths["plots"], contract.task) if base else {},
        data=revisions.data_change(base, data_dvc, paths["validation_report"], paths["data"]) if base else None,
        head=git.commit(),
        base=base,
        head_branch=git.current_branch(),
        base_name=base_rev if base and base_rev and not base.startswith(base_rev) else None,
        figures_url=run_url or _run_url(),
        figures=sorted(str(p) for p in Path(paths["figures"]).glob("*.png")),
        images=images,
        task=contract.task,
        reproduction=_read_reproduction(reproduction),
        intervals=revisions.intervals(None, paths["intervals"]),
        base_intervals=revisions.intervals(base, paths["intervals"]) if base else None,
        paired=paired,
        pairing=pairing,
    )
    files.write_text(out, build(inputs))
    if paired:
        from pipelines.adapters import plots

        plots.forest(
            paired, params.gate.max_regression, params.evaluate.intervals.level, Path(out).with_name("forest.png")
        )
    return bool(verdict.passed) and (inputs.reproduction is None or inputs.reproduction.ok)


def cmd_report(args: argparse.Namespace) -> int:
    from pipelines.adapters import files

    passed = write_report(
        args.base, args.out, args.params, args.dvc_yaml, args.data_dvc, args.run_url, args.images, args.reproduction
    )
    if args.pr_number is not None:
        files.write_json(Path(args.out).with_name("pr.json"), {"number": args.pr_number, "head_sha": args.head_sha})
    say("report", f"wrote {args.out} (gate {'passed' if passed else 'failed'})")
    return 0


def cmd_changed(args: argparse.Namespace) -> int:
    from pipelines.adapters import git
    from pipelines.adapters.params import load_params

    changed = git.changed_files(args.base)
    relevant = pipeline_relevant(changed, load_params(args.params).ci.pipeline_paths)
    for path in relevant:
        print(path)
    verdict = "run it" if relevant else "no training needed"
    say("changed", f"{len(changed)} file(s) changed, {len(relevant)} affect the pipeline: {verdict}")
    append(args.github_output, f"pipeline={'true' if relevant else 'false'}\n")
    return 0


def add_commands(sub: Any) -> None:
    """Register changed, report and gate."""

    def comparison(p: argparse.ArgumentParser) -> None:
        p.add_argument("--base", help="git revision to compare with (its committed metrics.json is the baseline)")
        p.add_argument("--dvc-yaml", default="dvc.yaml", help="where the pipeline's paths are defined")

    p = add(sub, "gate", cmd_gate, "check metrics against the floors and the base; exit 1 naming each failed rule")
    comparison(p)
    p.add_argument("--reproduction", help="also fail unless this `reproduce --verdict` file says the outputs reproduce")
    p.add_argument("--summary", help="append the verdict as markdown to this file (e.g. $GITHUB_STEP_SUMMARY)")

    p = add(sub, "report", cmd_report, "write the markdown report for a pull request")
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

    p = add(sub, "changed", cmd_changed, "list changed files that need the pipeline re-run (ci.pipeline_paths)")
    p.add_argument("--base", required=True, help="git revision to diff against")
    p.add_argument("--github-output", help="append pipeline=true|false to this file ($GITHUB_OUTPUT)")
