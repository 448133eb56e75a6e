"""`python -m pipelines <command>`: the one entry point for DVC stages, make targets and workflows.

This module only builds the command tree and dispatches. `pipelines.commands.COMMANDS` names each command,
its module and its help, so `--help` imports no command module; a command imports only its own module,
which registers the command's arguments beside the function that runs it. A known failure prints one line
(`error: ...`) and exits 1, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from pipelines.commands import OWNERS, SUMMARIES


def parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command tree. For a known `command`, the module that runs it registers its commands with their
    arguments (a DVC stage then loads its own module, not every one); otherwise every command is listed from
    the table with its help, and no command module is imported."""
    root = argparse.ArgumentParser(prog="python -m pipelines", description=__doc__.split("\n")[0])
    sub = root.add_subparsers(dest="command", required=True, metavar="<command>")
    if command in OWNERS:
        importlib.import_module(OWNERS[command]).add_commands(sub)
    else:
        for name, summary in SUMMARIES.items():
            sub.add_parser(name, help=summary)
    return root


def commands() -> list[str]:
    """Every command name, for checks that a workflow step names one that exists."""
    return sorted(SUMMARIES)


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
