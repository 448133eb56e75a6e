"""`python -m pipelines <command>`: the one entry point for DVC stages, make targets and workflows.

This module only builds the command tree from the job modules and dispatches: each job module
(`pipelines/jobs/*.py`, `pipelines/template/commands.py`) registers its commands next to the
functions that run them, and imports heavy libraries inside those functions, so `--help` stays
instant. A command imports only its own job module (COMMAND_MODULES says which). A known failure
prints one line (`error: ...`) and exits 1, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    # module: the commands it registers (a test checks the two agree)
    "pipelines.jobs.runs": ("bootstrap", "reproduce", "track"),  # make data, make run, the PR and main workflows
    "pipelines.jobs.stages": ("validate", "split", "train", "evaluate"),  # the four DVC stages (dvc.yaml)
    "pipelines.jobs.pull_request": ("changed", "gate", "report"),  # pull-request.yml
    "pipelines.jobs.release": ("record", "image-context", "build-image", "promote", "deploy", "smoke"),  # main, deploy
    "pipelines.jobs.environments": ("promotion-gate", "promotion-check", "rollback", "registry"),  # promotion, rollback
    "pipelines.jobs.operations": ("retrain", "monitor", "alert", "ingest", "keepalive"),  # retrain.yml, monitor.yml
    "pipelines.jobs.serve": ("serve",),  # the prediction service
    "pipelines.jobs.cluster": ("render",),  # what an environment declares the cluster runs
    "pipelines.jobs.feedback": ("feedback",),  # outcomes for predictions: feedback import (monitor scores them)
    "pipelines.template.commands": (
        "init",
        "setup",
        "protect",
        "add-environment",
        "template-record",
    ),  # once per project
}


def parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command tree: one sub-command per workflow step, registered by its job module. With `command`, only
    the module that registers it is imported (a DVC stage then loads its own module, not every job's)."""
    root = argparse.ArgumentParser(prog="python -m pipelines", description=__doc__.split("\n")[0])
    sub = root.add_subparsers(dest="command", required=True, metavar="<command>")
    owners = [m for m, names in COMMAND_MODULES.items() if command in names] or list(COMMAND_MODULES)
    for name in owners:
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
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser(argv[0] if argv else None).parse_args(argv)
    from pipelines.errors import PipelineError

    try:
        return int(args.func(args))
    except (PipelineError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader went away (`... | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
