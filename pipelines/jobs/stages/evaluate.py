"""The `evaluate` stage (dvc.yaml): the model scored on the holdout (metrics, intervals, plots, figures, the
recorded rows), the simpler model beside it (evaluate.baseline), and the run logged to MLflow."""

from __future__ import annotations

import argparse
import math
import os
from typing import TYPE_CHECKING, Any

from pipelines.adapters import tracking
from pipelines.adapters.params import estimators, load_contract, load_params
from pipelines.commands import Subparsers, add, say
from pipelines.core import baseline
from pipelines.core.metrics import model_output
from pipelines.core.params import Params
from pipelines.core.tasks import task_spec
from pipelines.errors import PipelineError

if TYPE_CHECKING:
    import pandas as pd

    from pipelines.core.contract import Contract


def cmd_evaluate(args: argparse.Namespace) -> int:
    from pipelines.adapters import files, modelio, plots
    from pipelines.adapters.revisions import provenance
    from pipelines.core.evaluate import evaluate, recorded_predictions
    from pipelines.core.validation import validate

    params, contract = load_params(args.params), load_contract()
    test, _ = validate(files.read_frame(args.test), contract.raw)
    model = modelio.load(args.model)
    say("evaluate", f"scoring {args.model} on {len(test)} holdout rows")
    result = evaluate(model, test, params.evaluate, contract)
    simpler = _baseline(args.train, params, contract, model, test)  # before any output is written
    sliced, included = _slices(model, test, params, contract)
    undefined = sorted(k for k, v in result.metrics.items() if not math.isfinite(v))
    if undefined:  # a degenerate holdout (one class, say): refuse before any output is written
        raise PipelineError(
            f"evaluate: {', '.join(undefined)} cannot be computed on this holdout ({len(test)} rows; a metric needs "
            "both classes, or a target that varies); nothing was written, the last outputs stand"
        )
    plots.write_data(result, args.plots)
    figures = plots.write_figures(result, args.figures, sliced, included)
    # 10 significant digits: far finer than reproduce.prediction_tolerance, and coarse enough that
    # another CPU's last-bit differences almost never change the file (so git status stays quiet)
    files.write_csv(args.predictions, recorded_predictions(model, test, params.evaluate.recorded_rows, contract))
    files.write_json(args.metrics, result.metrics)
    files.write_json(args.intervals, result.intervals_document(params.evaluate.intervals))
    files.write_json(args.baseline, simpler)
    files.write_json(args.slices, sliced)
    files.write_json(args.inclusion, included)
    files.write_json(args.features, _features(result.benefit, contract))
    say("evaluate", "  ".join(f"{k}={v:.4f}" for k, v in result.metrics.items()))
    if args.track:
        run = {
            "experiment": params.mlflow.experiment,
            "params": params.model_dump(include={"split", "train", "evaluate"}),
            "metrics": result.metrics,
            "tags": {
                **provenance(),
                "model_hash": modelio.content_hash(args.model),
                "estimator": params.train.estimator,
            },
            "artifacts": {"model": args.model, "figures": args.figures},
        }
        _track(run, background=params.mlflow.background and not _synchronous(), figures=len(figures))
    return 0


def _features(benefit: dict[str, Any], contract: Contract) -> dict[str, Any]:
    """reports/features.json: each input's benefit (pipelines.core.benefit) with its declared upstream source."""
    sources = {n: (c.metadata or {}).get("source") for n, c in contract.inputs.columns.items()}
    flagged = [e["feature"] for e in benefit["features"] if e["flagged"]]
    if flagged:
        shown = ", ".join(flagged[:10]) + (" ..." if len(flagged) > 10 else "")
        say("evaluate", f"removing {len(flagged)} input(s) would not hurt {benefit['metric']} by more than "
                        f"{benefit['margin']:g}: {shown}")  # fmt: skip
    return {**benefit, "features": [{**e, "source": sources.get(e["feature"])} for e in benefit["features"]]}


def _baseline(train_path: str, params: Params, contract: Contract, model: Any, test: pd.DataFrame) -> dict[str, Any]:
    """reports/baseline.json: the simpler model `evaluate.baseline` names, fit on the training split and scored
    beside `model` on the same holdout rows (pipelines.core.baseline), or why none was."""
    from pipelines.adapters import files
    from pipelines.core.train import fit
    from pipelines.core.validation import validate
    from pipelines.yours.features import build_preprocessor

    name, task = params.evaluate.baseline, contract.task
    skipped = baseline.skip_reason(name, params.train.estimator)
    if skipped or name is None:
        say("evaluate", f"baseline: {skipped}")
        return {"estimator": name, "skipped": skipped}
    options = baseline.baseline_params(params.train, estimators(), name, task)
    train, _ = validate(files.read_frame(train_path), contract.raw)
    simpler, _ = fit(train, contract, options, estimators(), build_preprocessor)
    x, y = test[contract.features], test[contract.target].to_numpy()
    classes = None if task == "regression" else model.classes_
    doc = baseline.document(
        name, task, y, model_output(model, x, task), model_output(simpler, x, task), classes,
        params.evaluate.threshold, params.evaluate.intervals,
    )  # fmt: skip
    primary = task_spec(task).primary
    entry = doc["difference"][primary]
    say("evaluate", f"baseline {name}: {primary} {doc['metrics'][primary]:.4f}; candidate - {name} = "
                    f"{entry['difference']:+.4f} [{entry['low']:+.4f}, {entry['high']:+.4f}]")  # fmt: skip
    return doc


def _slices(model: Any, test: pd.DataFrame, params: Params, contract: Contract) -> tuple[dict, dict]:
    """reports/slices.json: the task's metrics with intervals on each slice evaluate.slices defines
    (pipelines.core.slices); reports/inclusion.json: the gaps between the groups of each evaluate.sensitive
    column (pipelines.core.inclusion). ParamsError for a column the contract does not have, and for a slice per
    value of a personal column with many values (pipelines.core.slices.check_personal)."""
    from pipelines.core import inclusion, slices

    settings = params.evaluate
    slices.check_columns(settings.slices, contract.raw.columns)
    slices.check_columns(settings.sensitive, contract.raw.columns, "evaluate.sensitive")
    slices.check_rules(settings.slices, settings.sensitive, params.gate.slice_floors, params.gate.max_group_gap)
    slices.check_personal(settings.slices, test, contract.personal)
    slices.check_personal(settings.sensitive, test, contract.personal, "evaluate.sensitive")
    found = slices.slices(test, settings.slices)
    task = contract.task
    classes = None if task == "regression" else model.classes_
    y = test[contract.target].to_numpy()
    output = model_output(model, test[contract.features], task)
    doc = slices.document(task, y, output, classes, found, settings.threshold, settings.intervals,
                          settings.slice_min_rows)  # fmt: skip
    judged = sum(e["judged"] for e in doc["slices"])
    if found:
        say("evaluate", f"slices: {len(found)} ({judged} judged, {len(found) - judged} too small or one-class)")
    groups = {spec.column: slices.slices(test, [spec], "evaluate.sensitive") for spec in settings.sensitive}
    included = inclusion.document(task, y, output, classes, groups, settings.threshold, settings.intervals,
                                  settings.slice_min_rows)  # fmt: skip
    for entry in included["columns"]:
        shown = ", ".join(f"{k} {v['value']:.4f} [{v['low']:.4f}, {v['high']:.4f}]" for k, v in entry["gaps"].items())
        say("evaluate", f"groups of {entry['column']}: {shown or entry['reason']}")
    return doc, included


def _synchronous() -> bool:
    """Whether this machine must log before the stage ends: a CI job (its runner stops every process left when
    the job ends), or PIPELINES_MLFLOW_BACKGROUND=0."""
    return os.environ.get("CI", "").lower() in ("1", "true") or os.environ.get("PIPELINES_MLFLOW_BACKGROUND") == "0"


def _track(run: dict[str, Any], background: bool, figures: int) -> None:
    """Log the run to MLflow: in a detached process (the stage's outputs are final; importing MLflow and opening
    its store cost seconds), or now; a run that cannot be logged is queued, never a failed stage."""
    if background:
        tracking.queue_run(**run)
        tracking.flush_in_background()
        say(
            "evaluate", f"MLflow run queued ({figures} figures); logged in the background (`python -m pipelines track`)"
        )
        return
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")  # a server that is down: warn, do not hang
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    try:
        run_id = tracking.log_run(**run)
    except Exception as exc:  # an unreachable or refusing tracking server: the pipeline's outputs stand
        entry = tracking.queue_run(**run)
        say("evaluate", f"warning: MLflow did not take the run ({type(exc).__name__}); queued in {entry}, "
                        "`python -m pipelines track` logs it")  # fmt: skip
        return
    say("evaluate", f"logged MLflow run {run_id} ({figures} figures)")


def add_commands(sub: Subparsers) -> None:
    """Register evaluate."""
    p = add(sub, "evaluate", cmd_evaluate)
    p.add_argument("--model", required=True)
    p.add_argument("--test", required=True)
    p.add_argument("--metrics", required=True, help="metrics JSON")
    p.add_argument("--plots", required=True, help="directory for plot data (dvc plots)")
    p.add_argument("--figures", required=True, help="directory for PNG figures")
    p.add_argument("--predictions", required=True, help="CSV of the model's outputs on recorded holdout rows")
    p.add_argument("--intervals", required=True, help="JSON of each metric's bootstrap interval on the holdout")
    p.add_argument("--train", required=True, help="the training split (evaluate.baseline is fit on it)")
    p.add_argument("--baseline", required=True, help="JSON of the simpler model's metrics and candidate - baseline")
    p.add_argument("--slices", required=True, help="JSON of the task's metrics per slice (evaluate.slices)")
    p.add_argument("--inclusion", required=True, help="JSON of the gaps between groups (evaluate.sensitive)")
    p.add_argument("--features", required=True, help="JSON of each input's benefit (permutation) and source")
    p.add_argument("--no-track", dest="track", action="store_false", help="skip MLflow logging")
