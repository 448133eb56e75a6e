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


def env(tmp: Path) -> dict[str, str]:
    """This venv first on PATH, telemetry off, DVC's site cache inside `tmp`, a git identity."""
    out = dict(os.environ)
    out.update(
        PATH=f"{Path(sys.prefix) / 'bin'}{os.pathsep}{out.get('PATH', '')}",
        MLFLOW_DISABLE_TELEMETRY="true",
        DVC_NO_ANALYTICS="1",
        DVC_SITE_CACHE_DIR=str(tmp / "dvc-site"),
    )
    for key in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"):
        out.setdefault(key, "bench")
    for key in ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"):
        out.setdefault(key, "bench@example.invalid")
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
