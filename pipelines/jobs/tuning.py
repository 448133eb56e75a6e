"""The hyper-parameter search (.github/workflows/tune.yml, monthly and by hand): `tune` searches the estimator's
space on the training split (pipelines.core.tuning), logs the search to MLflow, and when the best values beat the
committed ones by more than the folds' spread, writes them into params.yaml and, with --push, proposes them in a
tune/<date> branch and pull request, which the normal gate then judges."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from pipelines.adapters import dvc, files, tracking
from pipelines.adapters.params import estimators, load_contract, load_params, load_paths, write_section_values
from pipelines.commands import Subparsers, add, add_repo, annotate, append, say
from pipelines.core import tuning
from pipelines.core.tasks import task_spec
from pipelines.errors import PipelineError
from pipelines.jobs import judging

HAND_STARTED = (
    "Without a GitHub App token (vars.PROMOTION_APP_ID), a pull request opened with the workflow's own token "
    "starts no checks: start the pull-request workflow by hand (close and reopen the pull request, or push to it)."
)


def _objective(train: Any, contract: Any, params: Any, settings: Any) -> Any:
    """values -> fold scores: the project's pipeline with the chosen estimator's options overridden by `values`,
    cross-validated on the training split (stratified for a label; in time order, each fold scored on rows newer
    than those it was fit on, when split.order_by is set), scored on the task's primary metric."""
    from sklearn.model_selection import KFold, StratifiedKFold, TimeSeriesSplit, cross_val_score

    from pipelines.core.data import time_order
    from pipelines.core.train import build_pipeline
    from pipelines.yours.features import build_preprocessor

    listed = estimators()
    name = params.train.estimator
    section = dict(params.train.sections().get(name) or {})
    splitter: Any = (KFold if contract.task == "regression" else StratifiedKFold)(
        n_splits=settings.folds, shuffle=True, random_state=settings.seed
    )
    if params.split.order_by is not None:  # shuffled folds would fit on the future and score on the past
        train = train.iloc[time_order(train, params.split.order_by).argsort(kind="stable")]
        splitter = TimeSeriesSplit(n_splits=settings.folds)
    x, y = train[contract.features], train[contract.target]

    def objective(values: dict[str, Any]) -> list[float]:
        options = {**section, **values}
        listed[name].params.model_validate(options)  # ValueError (pydantic) for values the estimator refuses
        trial_params = params.train.model_copy(update={name: options})
        pipeline = build_pipeline(contract, trial_params, listed, build_preprocessor)
        scores = cross_val_score(pipeline, x, y, cv=splitter, scoring=task_spec(contract.task).primary, n_jobs=1)
        return [float(s) for s in scores]

    return objective


def cmd_tune(args: argparse.Namespace) -> int:
    from pipelines.core.train import estimator_for

    params, contract, paths = load_params(args.params), load_contract(), load_paths(args.dvc_yaml)
    settings, name = params.tune, params.train.estimator
    entry = estimator_for(params.train, contract.task, estimators())
    if not entry.space:
        notice = f"Tuning skipped: {name} declares no search space (`space=` in pipelines/yours/estimators.py)."
        say("tune", notice)
        append(args.summary, f"### Tuning\n\n{notice}\n")
        return 0
    if not Path(paths["train"]).exists() and dvc.stream("repro", "split") != 0:
        raise PipelineError("dvc repro split failed: tune needs the training split (its output is above)")
    train = files.read_frame(paths["train"])
    committed = params.train.options(estimators()).model_dump()
    metric = task_spec(contract.task).primary
    say("tune", f"searching {name} ({', '.join(entry.space)}) on {len(train)} training rows: up to {settings.trials} "
                f"trials or {settings.timeout_minutes:g} min, {settings.folds}-fold {metric}; trial 0 is the committed "
                "values")  # fmt: skip
    started = time.monotonic()

    def progress(trial: tuning.Trial, best: tuning.Trial) -> None:
        shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in trial.values.items())
        elapsed = time.monotonic() - started
        say("tune", f"trial {trial.number}/{settings.trials - 1} ({elapsed:.0f} s): {metric} {trial.mean:.4f} ± "
                    f"{trial.spread:.4f} [{shown}]; best {best.mean:.4f} (trial {best.number})")  # fmt: skip

    trials = tuning.search(_objective(train, contract, params, settings), entry.space, committed, settings.trials,
                           settings.timeout_minutes * 60, settings.seed, progress)  # fmt: skip
    decision = tuning.decide(metric, trials)
    doc = tuning.document(decision, trials, name, settings.folds, settings.seed)
    files.write_json(args.out, doc)
    report = tuning.markdown(doc)
    say("tune", decision.reason)
    if args.track:
        tracking.log_search(params.mlflow.experiment, doc, Path(args.out))
        say("tune", f"logged {len(doc['trials'])} trials to MLflow experiment {params.mlflow.experiment!r}")
    append(args.summary, report)
    if not decision.adopt or not args.apply:
        return 0
    write_section_values(args.params, ("train", name), doc["proposed"])
    say("tune", f"wrote train.{name}: {doc['proposed']}")
    if not args.push:
        return 0
    if dvc.stream("repro") != 0:
        raise PipelineError("dvc repro failed with the tuned values (its output is above); nothing was pushed")
    message = f"Tune {name}: {decision.metric} {decision.improvement:+.4f} in {settings.folds}-fold cross-validation"
    judging.propose_branch("tune", message, args.params, args.push, args.repo, report + "\n")
    if args.repo and not args.app_token:
        annotate("warning", HAND_STARTED)
        append(args.summary, f"\n{HAND_STARTED}\n")
    return 0


def add_commands(sub: Subparsers) -> None:
    """Register tune."""
    p = add(sub, "tune", cmd_tune)
    p.add_argument("--dvc-yaml", default="dvc.yaml", help="where the training split's path is defined")
    p.add_argument("--out", default="reports/tuning.json", help="the search and its decision, as JSON")
    p.add_argument("--apply", action="store_true", help="write the best values into params.yaml when they win")
    p.add_argument("--push", action="store_true", help="with --apply: dvc repro, a tune/<date> branch, pushed")
    add_repo(p, help="owner/name: with --push, also open the pull request (needs GH_TOKEN)")
    p.add_argument("--app-token", action="store_true", default=os.environ.get("GH_TOKEN_IS_APP") == "true",
                   help="GH_TOKEN is a GitHub App's, whose pull requests start the checks (default: $GH_TOKEN_IS_APP "
                   "is true); without it the summary says to start them by hand")  # fmt: skip
    p.add_argument("--summary", help="append the tuning report to this file ($GITHUB_STEP_SUMMARY)")
    p.add_argument("--no-track", dest="track", action="store_false", help="skip MLflow logging")
