"""The four DVC stages: validate, split, train, evaluate (dvc.yaml runs them).

Every stage lists this module among its dependencies, so it holds the stages and nothing else;
making the data present and judging a re-run are pipelines.jobs.runs."""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from pipelines.adapters.params import estimators, load_contract, load_params
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
    files.write_json(args.report, {**report.to_dict(), "sources": source_list, "profile": profile(validated)})
    files.write_frame(args.out, validated)
    say("validate", report.summary())
    return 0


def cmd_split(args: argparse.Namespace) -> int:
    from pipelines.adapters import files
    from pipelines.core.data import split
    from pipelines.core.validation import validate

    params, contract = load_params(args.params).split, load_contract()
    frame, _ = validate(files.read_frame(args.input), contract.raw)
    train, test = split(
        frame, params.test_size, params.seed, params.stratify, contract.task, contract.target, params.order_by
    )
    files.write_frame(args.train, train)
    files.write_frame(args.test, test)
    say("split", f"{len(train)} train rows, {len(test)} test rows (seed {params.seed})")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from pipelines.adapters import files, modelio
    from pipelines.core.drift import reference_profile
    from pipelines.core.train import fit
    from pipelines.core.validation import validate
    from pipelines.yours.features import build_preprocessor

    params, contract = load_params(args.params).train, load_contract()
    train, _ = validate(files.read_frame(args.train), contract.raw)
    say("train", f"fitting {params.estimator} on {len(train)} rows")
    started = time.perf_counter()
    model, notes = fit(train, contract, params, estimators(), build_preprocessor)
    for note in notes:
        say("train", f"warning: {note}")
    inputs = train[contract.features]
    digest = modelio.save(model, args.model, input_example=inputs.head(5), signature_sample=inputs.head(1000))
    files.write_json(args.manifest, modelio.manifest(args.model))
    profile = reference_profile(
        train, contract.numeric, contract.categorical, params.reference_bins, params.reference_discrete_max
    )
    files.write_json(args.reference, profile)
    say("train", f"fitted in {time.perf_counter() - started:.1f}s; saved {args.model} (sha256 {digest[:12]})")
    return 0


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
    plots.write_data(result, args.plots)
    figures = plots.write_figures(result, args.figures)
    # 10 significant digits: far finer than reproduce.prediction_tolerance, and coarse enough that
    # another CPU's last-bit differences almost never change the file (so git status stays quiet)
    files.write_csv(args.predictions, recorded_predictions(model, test, params.evaluate.recorded_rows, contract))
    files.write_json(args.metrics, result.metrics)
    files.write_json(args.intervals, result.intervals_document(params.evaluate.intervals))
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


def _synchronous() -> bool:
    """Whether this machine must log before the stage ends: a CI job (its runner stops every process left when
    the job ends), or PIPELINES_MLFLOW_BACKGROUND=0."""
    return os.environ.get("CI", "").lower() in ("1", "true") or os.environ.get("PIPELINES_MLFLOW_BACKGROUND") == "0"


def _track(run: dict[str, Any], background: bool, figures: int) -> None:
    """Log the run to MLflow: in a detached process (the stage's outputs are final; importing MLflow and opening
    its store cost seconds), or now; a run that cannot be logged is queued, never a failed stage."""
    # imported here, not at the top: only evaluate logs to MLflow, and every stage lists the modules it loads
    # among its dvc.yaml deps, so validate, split and train would re-run on a change to MLflow logging
    from pipelines.adapters import tracking

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
    """Register validate, split, train and evaluate."""
    p = add(sub, "validate", cmd_validate)
    p.add_argument("--data", required=True, help="raw data directory or file")
    p.add_argument("--out", required=True, help="validated, typed data (Parquet)")
    p.add_argument("--report", required=True, help="validation report (JSON), written pass or fail")

    p = add(sub, "split", cmd_split)
    p.add_argument("--input", required=True)
    p.add_argument("--train", required=True)
    p.add_argument("--test", required=True)

    p = add(sub, "train", cmd_train)
    p.add_argument("--train", required=True)
    p.add_argument("--model", required=True, help="output model directory")
    p.add_argument("--manifest", required=True, help="output JSON with the model's content hash and file hashes")
    p.add_argument("--reference", required=True, help="output JSON profile of the training inputs (drift reference)")

    p = add(sub, "evaluate", cmd_evaluate)
    p.add_argument("--model", required=True)
    p.add_argument("--test", required=True)
    p.add_argument("--metrics", required=True, help="metrics JSON")
    p.add_argument("--plots", required=True, help="directory for plot data (dvc plots)")
    p.add_argument("--figures", required=True, help="directory for PNG figures")
    p.add_argument("--predictions", required=True, help="CSV of the model's outputs on recorded holdout rows")
    p.add_argument("--intervals", required=True, help="JSON of each metric's bootstrap interval on the holdout")
    p.add_argument("--no-track", dest="track", action="store_false", help="skip MLflow logging")
