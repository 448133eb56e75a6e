"""The one DVC wrapper: its public command line, and `dvc.api` to read an output at a revision.

Commands run as `python -m dvc` in the current interpreter, so the project's locked DVC is the
one used wherever the package runs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from pipelines.errors import PipelineError


class DvcError(PipelineError):
    """A DVC command failed; the message carries DVC's own last lines."""


class MissingFromRemote(DvcError):
    """The remote answered, and it does not hold what was asked for: it was never pushed there."""


# What DVC prints when neither the cache nor the remote has an object (a remote added after the data).
_MISSING = ("Missing cache files", "neither locally nor on remote", "do not exist neither")


def run(*args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    """`dvc <args>` with output captured."""
    result = subprocess.run([sys.executable, "-m", "dvc", *args], text=True, capture_output=True, check=False)
    if check and result.returncode != 0:
        raise DvcError(f"dvc {' '.join(args)} failed: {(result.stderr or result.stdout).strip()}")
    return result


def stream(*args: str) -> int:
    """`dvc <args>` with its output shown as it runs (progress of long commands); the exit code."""
    return subprocess.run([sys.executable, "-m", "dvc", *args], check=False).returncode


def has_remote() -> bool:
    """Whether a DVC remote is configured."""
    result = run("remote", "list")
    return result.returncode == 0 and bool(result.stdout.strip())


def status() -> dict[str, list[Any]]:
    """`dvc status --json`: per stage or .dvc file, what changed against dvc.lock (empty: up to date)."""
    result = run("status", "--json")
    if result.returncode != 0:
        raise DvcError(f"dvc status failed: {result.stderr.strip()}")
    return dict(json.loads(result.stdout or "{}"))


def stale_stages() -> list[str]:
    """Stages whose workspace outputs are not what the workspace's code, params and data produce
    (`dvc status`), each with what changed: empty when the outputs can be judged."""

    stale = []
    for stage, entries in status().items():
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

    stale = stale_stages()
    if stale:
        raise PipelineError(
            f"{command}: the pipeline's outputs are stale, so there is nothing sound to judge: {', '.join(stale)}; "
            "run `dvc repro` first"
        )


def workspace_matches(path: str) -> bool:
    """Whether the workspace's `path` is what its .dvc file records (`dvc data status`: not uncommitted)."""
    result = run("data", "status", "--json")
    if result.returncode != 0:
        raise DvcError(f"dvc data status failed: {result.stderr.strip()}")
    uncommitted = json.loads(result.stdout or "{}").get("uncommitted") or {}
    names = {path.rstrip("/"), path.rstrip("/") + "/"}
    return not any(names & set(entries) for entries in uncommitted.values())


def cache(dvc_file: str) -> None:
    """Put the workspace data a .dvc file records into the DVC cache (`dvc commit`; the file is unchanged
    when the data matches it)."""
    run("commit", "--force", "--quiet", dvc_file, check=True)


def add(path: str) -> None:
    """`dvc add` a path (writes or updates its .dvc file and caches the data)."""
    run("add", "--quiet", path, check=True)


def default_remote() -> str:
    """The default remote as messages name it: `remote 'storage' (s3://bucket/dvc)`, or `the DVC remote`."""
    name = run("remote", "default").stdout.strip()
    # one `name url [(default)]` per line; anything else DVC prints there (a warning) is not a remote
    urls = dict(fields for line in run("remote", "list").stdout.splitlines() if len(fields := line.split(None, 1)) == 2)
    url = urls.get(name, "").split()[0] if name in urls else ""
    return f"remote {name!r} ({url})" if name else "the DVC remote"


CREDENTIALS = (
    "check the remote's credentials (for S3: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or `dvc remote modify "
    "--local <name> access_key_id ...`, kept in .dvc/config.local) and its endpointurl"
)


def pull(*targets: str, allow_missing: bool = False) -> None:
    """`dvc pull` (of `targets`, else everything the workspace records); DvcError naming the remote when it fails."""
    result = run("pull", *(["--allow-missing"] if allow_missing else []), *targets)
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip()
        if any(marker in output for marker in _MISSING):
            objects = sorted(set(re.findall(r"md5: ([0-9a-f]{32}(?:\.dir)?)", output)))
            named = f" ({', '.join(objects[:3])})" if objects else ""
            raise MissingFromRemote(
                f"{default_remote()} does not hold {' '.join(targets) or 'the data'}{named}: it was never pushed "
                "there. From a copy that has the data, run `dvc push` (a remote added to a project that already "
                "has data starts empty), then run this again"
            )
        detail = output.splitlines()
        raise DvcError(f"dvc pull from {default_remote()} failed: {' '.join(detail[:2])[:400]}; {CREDENTIALS}")


def push() -> None:
    """`dvc push` of everything the workspace records (data and outputs); DvcError naming the remote."""
    if stream("push") != 0:
        raise DvcError(f"dvc push to {default_remote()} failed (its output is above); {CREDENTIALS}")


def diff(rev: str) -> tuple[dict[str, Any] | None, str | None]:
    """`dvc diff --json rev`: (the diff, None), or (None, DVC's last error line)."""
    result = run("diff", "--json", rev)
    if result.returncode != 0:
        return None, (result.stderr.strip().splitlines() or ["dvc diff failed"])[-1]
    return json.loads(result.stdout or "{}"), None


def get_at(rev: str, path: str, dest: Path, remote_only: bool = False) -> None:
    """Copy the output `path` recorded at `rev` to `dest`, from the DVC cache or the remote.

    With `remote_only` the local cache is not consulted (an empty temporary cache stands in), so
    success proves the remote holds it. Raises whatever dvc.api raises when it cannot.
    """
    from dvc.api import DVCFileSystem

    with tempfile.TemporaryDirectory(prefix="dvc-cache-") as empty:
        config = {"cache": {"dir": empty}} if remote_only else {}
        DVCFileSystem(os.getcwd(), rev=rev, config=config).get(path, str(dest), recursive=True)
