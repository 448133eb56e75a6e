"""`python -m pipelines <command>`: the one entry point for DVC stages, make targets and workflows.

This module only builds the command tree from the job modules and dispatches: each job module
(`pipelines/jobs/*.py`, `pipelines/template/commands.py`) registers its commands next to the
functions that run them, and imports heavy libraries inside those functions, so `--help` stays
instant. A known failure prints one line (`error: ...`) and exits 1, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

COMMAND_MODULES = (
    "pipelines.jobs.runs",  # bootstrap and reproduce (make data, make run, the PR and main workflows)
    "pipelines.jobs.stages",  # the four DVC stages (dvc.yaml)
    "pipelines.jobs.pull_request",  # pull-request.yml
    "pipelines.jobs.release",  # main.yml and deploy.yml
    "pipelines.jobs.environments",  # promotion-gate.yml, rollback.yml, `registry`
    "pipelines.jobs.operations",  # retrain.yml and monitor.yml
    "pipelines.jobs.serve",  # the prediction service
    "pipelines.jobs.cluster",  # what an environment declares the cluster runs (render)
    "pipelines.jobs.feedback",  # outcomes for predictions: feedback import (monitor scores them)
    "pipelines.template.commands",  # once per project: init, setup, protect
)


def parser() -> argparse.ArgumentParser:
    """The command tree: one sub-command per workflow step, registered by its job module."""
    root = argparse.ArgumentParser(prog="python -m pipelines", description=__doc__.split("\n")[0])
    sub = root.add_subparsers(dest="command", required=True, metavar="<command>")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_commands(sub)
    return root


def commands() -> list[str]:
    """Every command name, for checks that a workflow step names one that exists."""
    sub = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(sub.choices)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; known failures print one clear message and exit 1, never a traceback."""
    # Telemetry off for anything these commands start, unless the user opted in explicitly.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    args = parser().parse_args(argv)
    from pipelines.errors import PipelineError

    try:
        return int(args.func(args))
    except (PipelineError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader went away (`... | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
