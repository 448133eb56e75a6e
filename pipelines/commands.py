"""The command table, and what every command module (pipelines/jobs/*.py, pipelines/template/commands.py)
shares: messages, GitHub output files and command registration.

`COMMANDS` names each command, the module that runs it and its one-line help, so `python -m pipelines
--help` answers without importing any command module, and a command imports only its own (pipelines/cli.py).
Standard library only at import time."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipelines.core.params import EnvironmentParams, EnvironmentsParams

Command = Callable[[argparse.Namespace], int]
Subparsers = argparse._SubParsersAction  # what `add_commands(sub)` receives: argparse's sub-command registry

# module: {command: one-line help}. The module registers each of its commands (`add`, below) with its
# arguments beside the function that reads them; a test checks the two agree.
COMMANDS: dict[str, dict[str, str]] = {
    "pipelines.jobs.runs": {  # make data, make run, the pull-request and main workflows
        "bootstrap": "make the tracked data present: dvc pull, or the embedded default",
        "reproduce": (
            "run the pipeline and check every output agrees with the committed ones within params.yaml's "
            "reproduce: tolerances"
        ),
        "track": "log the MLflow runs waiting in the spool (background or refused runs)",
    },
    # the four DVC stages (dvc.yaml), a module each
    "pipelines.jobs.stages.validate": {"validate": "check the raw data against the schema (stage 1)"},
    "pipelines.jobs.stages.split": {"split": "stratified, seeded train/test split (stage 2)"},
    "pipelines.jobs.stages.train": {"train": "fit the model and save it in MLflow format (stage 3)"},
    "pipelines.jobs.stages.evaluate": {
        "evaluate": "metrics, plots and figures on the holdout set, a simpler model beside it; log to MLflow (stage 4)"
    },
    "pipelines.jobs.pull_request": {  # pull-request.yml
        "changed": "list changed files that need the pipeline re-run (ci.pipeline_paths)",
        "gate": "check metrics against the floors and the base; exit 1 naming each failed rule",
        "report": "write the markdown report for a pull request",
    },
    "pipelines.jobs.release": {  # main.yml, deploy.yml
        "record": (
            "after a merge to main: store the model of record (DVC remote, MLflow) and commit it onto promote/<env>"
        ),
        "image-context": "lay out the serving image's build context (model verified)",
        "build-image": (
            "build and push the serving image of the record on promote/<env> once; smoke-test it by digest and "
            "record the digest"
        ),
        "promote": "push promote/<env> and open or update its one pull request into <env>",
        "deploy": (
            "on an environment branch: check the release it records (model from the DVC remote, image by digest, "
            "smoke test) and move the MLflow alias"
        ),
        "smoke": (
            "smoke-test a running service (--url) or an image (--image, by digest) against the model a revision records"
        ),
    },
    "pipelines.jobs.environments": {  # promotion-gate.yml, rollback.yml
        "promotion-gate": (
            "score the recorded candidate against the environment's model on the same holdout; with --record, "
            "commit the verdict onto promote/<env>"
        ),
        "promotion-check": (
            "on a pull request into an environment: the recorded verdict, release and model agree, or it returns "
            "to an earlier release"
        ),
        "rollback": "revert an environment branch to an earlier model (commit or PR per policy)",
        "registry": "what each environment runs, from git alone (version, hashes, metrics)",
    },
    "pipelines.jobs.operations": {  # retrain.yml, monitor.yml
        "retrain": "ingest, dvc repro, and if data or model changed: a retrain/<date> branch",
        "monitor": "compare logged live inputs with the training reference (PSI, KS, missing rates)",
        "alert": "on drift: open or update the one drift issue and dispatch retraining",
        "ingest": "fetch new batches from ingest: in params.yaml, validate, append, dvc add",
        "keepalive": (
            "warn (summary, one issue) when the default branch's last commit is old enough that GitHub will soon "
            "disable the scheduled workflows; re-enable them through the API"
        ),
    },
    "pipelines.jobs.retention": {  # monitor.yml
        "retention": (
            "delete prediction- and feedback-log files whose newest record is past serve.log.max_age_days / "
            "serve.feedback.retention_days"
        ),
    },
    "pipelines.jobs.staleness": {  # retrain.yml, monitor.yml
        "staleness": (
            "backtest on time-ordered data: how fast the model decays with age, and the retrain interval it calls for"
        ),
    },
    "pipelines.jobs.feature_cost": {  # pull-request.yml, after the pipeline
        "feature-cost": (
            "what each model input adds to one-row scoring latency and to the fit's time and memory (refit without it)"
        ),
    },
    "pipelines.jobs.tuning": {  # tune.yml
        "tune": (
            "search the estimator's hyper-parameters (Optuna, cross-validated on the training split); propose the "
            "best when they beat the committed ones beyond the folds' spread"
        ),
    },
    "pipelines.jobs.serve": {  # the prediction service
        "serve": "serve the model over HTTP (MLflow-compatible /invocations, health, metrics)",
    },
    "pipelines.jobs.cluster": {  # what an environment declares the cluster runs
        "render": "print an environment's Kubernetes manifests (kustomize), checked",
    },
    "pipelines.jobs.feedback": {  # outcomes for predictions (monitor scores them)
        "feedback": "outcomes (ground truth) for prediction ids; `monitor` scores them",
    },
    "pipelines.jobs.explain": {  # for people: why the model said what it said
        "explain": (
            "explain one prediction (--id from the log, or --row): each preprocessing step's values, each input's "
            "contribution, the output checked against the logged one"
        ),
    },
    "pipelines.template.commands": {  # once per project
        "init": "make this fresh copy of the template your project (names, environments, your data)",
        "setup": "one-time GitHub setup: environment branches, Environments, variables, protection",
        "protect": "apply branch protection from the settings file through the GitHub API",
        "add-environment": (
            "add an environment to this project: params.yaml, workflows, protection, Argo CD, its overlay"
        ),
        "template-record": (
            "template maintainers: record the files init owns as the template ships them (.template.yml)"
        ),
    },
}

SUMMARIES: dict[str, str] = {name: summary for commands in COMMANDS.values() for name, summary in commands.items()}
OWNERS: dict[str, str] = {name: module for module, commands in COMMANDS.items() for name in commands}


def say(command: str, message: str) -> None:
    """One progress or result line on stderr, prefixed with the command."""
    print(f"[{command}] {message}", file=sys.stderr, flush=True)


def append(path: str | None, text: str) -> None:
    """Append to a file such as $GITHUB_OUTPUT or $GITHUB_STEP_SUMMARY, when one was given."""
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(text)


def annotate(level: str, message: str) -> None:
    """A GitHub Actions annotation (shown on the pull request's checks page); nothing elsewhere."""
    if os.environ.get("GITHUB_ACTIONS") == "true":
        print(f"::{level}::{message}", flush=True)


def add(
    sub: Subparsers, name: str, func: Command, params: bool = True, help: str | None = None
) -> argparse.ArgumentParser:
    """Register one command with its help from `COMMANDS` (`help` for an action under a command, such as
    `feedback import`); with `params`, it takes --params (default params.yaml)."""
    help = help if help is not None else SUMMARIES[name]
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help, description=help)
    parser.set_defaults(func=func)
    if params:
        parser.add_argument("--params", default="params.yaml", help="parameters file (default: %(default)s)")
    return parser


def add_repo(parser: argparse.ArgumentParser, required: bool = False, help: str = "owner/name") -> None:
    """--repo, defaulting to $GITHUB_REPOSITORY (required when `required` and that is unset)."""
    default = os.environ.get("GITHUB_REPOSITORY")
    parser.add_argument("--repo", default=default, required=required and not default, help=help)


def add_env_choice(parser: argparse.ArgumentParser, env_help: str, after_help: str) -> None:
    """--env NAME or --after NAME (the environment promoted from NAME), exactly one."""
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--env", help=env_help)
    which.add_argument("--after", help=after_help)


def json_bytes(data: Any) -> bytes:
    """Indented, key-sorted, strict JSON with a final newline (what committed JSON files look like)."""
    return (json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n").encode()


def target_env(envs: EnvironmentsParams, args: argparse.Namespace) -> EnvironmentParams | None:
    """The environment `--env` names, or the one promoted from `--after` (None when there is none)."""
    return envs.get(args.env) if getattr(args, "env", None) else envs.next_after(args.after)
