"""Helpers shared by the benchmarks: a throwaway committed copy of the repo, and timed commands."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the benchmarks use the tests' helpers (tests/helpers) rather than copies

from tests.helpers.project import tool_env  # noqa: E402


def env(tmp: Path) -> dict[str, str]:
    """The tests' subprocess environment (this venv first on PATH, telemetry off, caches and HOME inside `tmp`, a
    git identity), with MLflow logging as a user's run does it (in the background, per params.yaml)."""
    out = tool_env(tmp)
    out.pop("PIPELINES_MLFLOW_BACKGROUND", None)
    return out


def measure(cmd: list[str], cwd: Path, environ: dict[str, str]) -> tuple[float, float]:
    """Run `cmd`; return (seconds, peak RSS in MiB of the largest process in its tree)."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=environ, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode not in (0,):
            err.seek(0)
            raise SystemExit(f"{' '.join(cmd)} failed:\n{err.read().decode()[-3000:]}")
    return elapsed, usage.ru_maxrss / 1024  # ru_maxrss is KiB on Linux


def workspace(tmp: Path, environ: dict[str, str]) -> Path:
    """A committed copy of the repository's tracked files in `tmp/work`."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    work = tmp / "work"
    for name in filter(None, listed.decode().split("\0")):
        if (ROOT / name).is_file():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, work / name)
    for cmd in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"], ["git", "commit", "-q", "-m", "bench"]):
        subprocess.run(cmd, cwd=work, env=environ, check=True, capture_output=True)
    return work
