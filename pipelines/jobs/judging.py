"""What the pull-request gate, its report, `reproduce` and `retrain` share: the workspace's pipeline outputs
judged (their reproduction against a commit, the gate's inputs, the pull-request report). Registers no command;
the command modules that need it import it (they do not import each other)."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from pipelines.adapters import dvc, git
from pipelines.adapters.github import GhCli, upsert_pull_request
from pipelines.adapters.params import (
    committed_outputs,
    load_contract,
    load_outputs,
    load_params,
    load_paths,
    stage_sections,
)
from pipelines.commands import say
from pipelines.core import reproduce
from pipelines.core.gate import (
    Verdict,
    baseline_rule,
    check,
    feature_rules,
    group_gap_rules,
    require_reported_metrics,
    slice_rules,
)
from pipelines.core.params import Params, ParamsError, flatten, stage_params
from pipelines.core.reproduce import Reproduction
from pipelines.core.tasks import task_spec
from pipelines.errors import PipelineError

if TYPE_CHECKING:
    from pipelines.core.contract import Contract

Paired = dict[str, dict[str, float]]  # per metric: the paired difference (this - base) and its interval


class GateInputs(NamedTuple):
    """What the gate and the pull-request report judge (`gate_inputs`)."""

    params: Params
    paths: dict[str, str]
    metrics: dict[str, float]  # this branch's
    base: dict[str, float] | None  # the base's committed metrics, None when it has none
    verdict: Verdict
    contract: Contract
    comparison: tuple[Paired | None, str]  # the paired comparison with the base (None without one), and how made
    baseline: dict[str, Any] | None  # reports/baseline.json (pipelines.core.baseline), None when absent
    slices: dict[str, Any] | None  # reports/slices.json (pipelines.core.slices), None when absent
    slice_comparison: dict[str, dict[str, Any]] | None  # per slice: this - base on the primary metric, paired
    inclusion: dict[str, Any] | None  # reports/inclusion.json (pipelines.core.inclusion), None when absent
    features: dict[str, Any] | None  # reports/features.json (pipelines.core.benefit), None when absent
    feature_cost: dict[str, Any] | None  # reports/feature_cost.json (`feature-cost`), None when not measured
    new_features: list[str]  # inputs the base's model did not have ([] without a base reports/features.json)


def reproduction(rev: str, params_file: str, dvc_yaml: str, forced: bool = False) -> Reproduction:
    """The workspace's pipeline outputs judged against those committed at `rev` (pipelines.core.reproduce).

    `forced` records that every stage was re-run (nothing restored from a cache). Raises GitError for an
    unknown revision or one without a dvc.lock, and ParamsError when `reproduce.exact_stages` names a
    stage dvc.yaml does not have.
    """

    import yaml

    commit = git.resolve(rev)
    if commit is None:
        raise git.GitError(f"unknown revision {rev!r}")
    committed_lock = git.show(commit, "dvc.lock")
    if committed_lock is None:
        raise git.GitError(f"{rev} has no committed dvc.lock to reproduce")
    settings, paths = load_params(params_file).reproduce, load_paths(dvc_yaml)
    declared = load_outputs(dvc_yaml)
    unknown = sorted(set(settings.exact_stages) - {stage for stage, _, _ in declared})
    if unknown:
        stages = ", ".join(dict.fromkeys(stage for stage, _, _ in declared))
        raise ParamsError(f"reproduce.exact_stages names {', '.join(unknown)}, not a stage of {dvc_yaml} ({stages})")
    outputs = {path: reproduce.Output(stage, path, cached) for stage, path, cached in declared}

    def workspace(path: str) -> dict[str, bytes]:
        p = Path(path)
        if p.is_file():
            return {"": p.read_bytes()}
        return {f.relative_to(p).as_posix(): f.read_bytes() for f in sorted(p.rglob("*")) if f.is_file()}

    result = reproduce.judge_rerun(
        commit,
        yaml.safe_load(committed_lock),
        yaml.safe_load(Path("dvc.lock").read_text()),
        outputs,
        lambda path: git.files_at(commit, path),
        workspace,
        reproduce.Criteria(frozenset(settings.exact_stages), settings.tolerance, settings.prediction_tolerance,
                           paths["model"], paths["manifest"], paths["holdout_predictions"]),
    )  # fmt: skip
    return dataclasses.replace(result, commit_paths=" ".join(committed_outputs(dvc_yaml)), forced=forced)


def gate_inputs(command: str, params_file: str, dvc_yaml: str, base_rev: str | None) -> GateInputs:
    """What the gate judges, read from the workspace and `base_rev`; refuses stale outputs (PipelineError) and a
    base revision git does not know (GitError)."""

    from pipelines.adapters import revisions
    from pipelines.core.slices import check_rules

    params, paths, contract = load_params(params_file), load_paths(dvc_yaml), load_contract()
    require_reported_metrics(params.gate, contract.task)
    check_rules(params.evaluate.slices, params.evaluate.sensitive, params.gate.slice_floors, params.gate.max_group_gap)
    dvc.refuse_stale(command)
    metrics = json.loads(Path(paths["metrics"]).read_text())
    if base_rev and git.resolve(base_rev) is None:
        raise git.GitError(f"base revision {base_rev!r} not found (fetch it, e.g. checkout with fetch-depth: 0)")
    base = revisions.metrics(base_rev, paths["metrics"]) if base_rev else None
    comparison: tuple[Paired | None, str] = (None, "no base")
    by_slice = None
    if base_rev and base is not None:
        if Path(paths["test"]).exists():
            found, how, by_slice = revisions.paired_with_base(base_rev, paths, params, contract)
            comparison = (found, how)
        else:
            comparison = (None, f"unpaired: {paths['test']} is not in the workspace (run `dvc repro`)")
    level = params.evaluate.intervals.level
    verdict = check(metrics, base, params.gate, comparison[0], level)
    primary = task_spec(contract.task).primary
    simpler, sliced = _optional_json(paths.get("baseline")), _optional_json(paths.get("slices"))
    rule = baseline_rule(simpler, params.gate.baseline_rule, primary)
    included = _optional_json(paths.get("inclusion"))
    extra = ([] if rule is None else [rule]) + slice_rules(sliced, by_slice, comparison[1], params.gate, primary)
    extra += group_gap_rules(included, params.gate.max_group_gap)
    features, cost = _optional_json(paths.get("features")), _optional_json(paths.get("feature_cost"))
    base_features = _base_features(base_rev, paths.get("features"))
    extra += feature_rules(features, base_features, cost, params.gate)
    verdict = Verdict([*verdict.rules, *extra], verdict.has_base)
    new = [e["feature"] for e in (features or {}).get("features", []) if e["feature"] not in (base_features or [])]
    return GateInputs(params, paths, metrics, base, verdict, contract, comparison, simpler, sliced, by_slice, included,
                      features, cost, new if base_features is not None else [])  # fmt: skip


def _base_features(base_rev: str | None, path: str | None) -> list[str] | None:
    """The model inputs of the base's committed reports/features.json, None without a base or that file."""
    doc = git.show_json(base_rev, path, strict=False) if base_rev and path else None
    return None if not isinstance(doc, dict) else [e["feature"] for e in doc.get("features", [])]


def _optional_json(path: str | None) -> Any:
    """A report evaluate writes (reports/baseline.json, slices.json, inclusion.json), None when absent (an older fork's
    dvc.yaml without its path, or a pipeline not yet run to it)."""
    return json.loads(Path(path).read_text()) if path and Path(path).exists() else None


def read_reproduction(path: str | None) -> Reproduction | None:
    """The verdict `reproduce --force --verdict` wrote for HEAD, or None when no path was given.

    PipelineError when the file is unreadable, or written at another commit, or when it says the outputs
    reproduce but was written without --force (outputs restored from a DVC cache or remote were then
    never re-derived). A verdict that says they do not reproduce stands as it is.
    """

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


def _workflow_run_url() -> str | None:
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
    from pipelines.adapters import files, revisions
    from pipelines.core.reports import ReportInputs, build

    judged = gate_inputs("report", params_file, dvc_yaml, base_rev)
    params, paths, metrics, base_metrics, verdict, contract = judged[:6]
    (paired, pairing), simpler = judged.comparison, judged.baseline
    base = git.resolve(base_rev) if base_rev else None
    inputs = ReportInputs(
        metrics=metrics,
        base_metrics=base_metrics,
        params=flatten(params.model_dump(include=set(stage_sections(dvc_yaml)))),
        base_params=stage_params(revisions.params(base, params_file), stage_sections(dvc_yaml)) if base else None,
        verdict=verdict,
        plots=revisions.read_plots(paths["plots"], contract.task),
        base_plots=revisions.plots(base, paths["plots"], contract.task) if base else {},
        data=revisions.data_change(base, data_dvc, paths["validation_report"], paths["data"]) if base else None,
        head=git.commit(),
        base=base,
        head_branch=git.current_branch(),
        base_name=base_rev if base and base_rev and not base.startswith(base_rev) else None,
        figures_url=run_url or _workflow_run_url(),
        figures=sorted(str(p) for p in Path(paths["figures"]).glob("*.png")),
        images=images,
        task=contract.task,
        reproduction=read_reproduction(reproduction),
        intervals=revisions.intervals(None, paths["intervals"]),
        base_intervals=revisions.intervals(base, paths["intervals"]) if base else None,
        paired=paired,
        pairing=pairing,
        baseline=simpler,
        slices=judged.slices,
        slice_comparison=judged.slice_comparison,
        slice_floors=params.gate.slice_floors,
        inclusion=judged.inclusion,
        max_group_gap=params.gate.max_group_gap,
        features=judged.features,
        feature_cost=judged.feature_cost,
        new_features=judged.new_features,
        feature_budgets=params.gate.feature_budgets.model_dump(),
    )
    files.write_text(out, build(inputs))
    if paired:
        from pipelines.adapters import plots

        plots.forest(
            paired, params.gate.max_regression, params.evaluate.intervals.level, Path(out).with_name("forest.png")
        )
    return bool(verdict.passed) and (inputs.reproduction is None or inputs.reproduction.ok)


def propose_branch(kind: str, message: str, params_file: str, push: bool, repo: str | None, preface: str = "") -> str:
    """Commit the workspace's changes to tracked files on a new branch `<kind>/<UTC date-time>` (`retrain`,
    `tune`), push the DVC outputs when a remote is configured, and with `push` the branch to origin; with `repo`
    too, open (or update) its one pull request into main, its body `preface` and the report against the commit
    the branch started from. The branch's name."""
    import datetime

    base = git.commit().removesuffix("-dirty")
    branch = f"{kind}/{datetime.datetime.now(datetime.UTC):%Y-%m-%d-%H%M}"
    git.switch_new(branch)
    git.commit_tracked(message)
    say(kind, f"{message}: branch {branch}")
    if dvc.has_remote():
        dvc.push()
    if push:
        git.push("HEAD", branch)
        say(kind, f"pushed {branch}")
        if repo:
            report = "reports/report.md"
            write_report(base, report, params_file)
            body = preface + Path(report).read_text()
            number, _ = upsert_pull_request(GhCli(), repo, branch, "main", message, body)
            say(kind, f"opened pull request #{number}")
    return branch
