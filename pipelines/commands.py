"""What every command module shares (pipelines/jobs/*.py and pipelines/template/commands.py): messages,
GitHub output files, command registration, and the refusal to judge stale outputs. Standard library
only at import time (heavy imports stay inside the commands, so `python -m pipelines --help` answers
at once)."""

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
Subparsers = "argparse._SubParsersAction[argparse.ArgumentParser]"


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


def add(sub: Any, name: str, func: Command, help: str, params: bool = True) -> argparse.ArgumentParser:
    """Register one command; with `params`, it takes --params (default params.yaml)."""
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


def stale_stages() -> list[str]:
    """Stages whose workspace outputs are not what the workspace's code, params and data produce
    (`dvc status`), each with what changed: empty when the outputs can be judged."""
    from pipelines.adapters import dvc

    stale = []
    for stage, entries in dvc.status().items():
        changes = []
        for entry in entries:
            if isinstance(entry, str):
                changes.append(entry)
                continue
            for kind, detail in entry.items():
                changes.append(f"{kind}: {', '.join(detail)}" if isinstance(detail, dict) else kind)
        stale.append(f"{stage} ({'; '.join(changes)})")
    return stale


def refuse_stale(command: str) -> None:
    """Refuse to judge outputs that the workspace's code, params and data would not produce."""
    from pipelines.errors import PipelineError

    stale = stale_stages()
    if stale:
        raise PipelineError(
            f"{command}: the pipeline's outputs are stale, so there is nothing sound to judge: {', '.join(stale)}; "
            "run `dvc repro` first"
        )


def json_bytes(data: Any) -> bytes:
    """Indented, key-sorted, strict JSON with a final newline (what committed JSON files look like)."""
    return (json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n").encode()


def target_env(envs: EnvironmentsParams, args: argparse.Namespace) -> EnvironmentParams | None:
    """The environment `--env` names, or the one promoted from `--after` (None when there is none)."""
    return envs.get(args.env) if getattr(args, "env", None) else envs.next_after(args.after)
