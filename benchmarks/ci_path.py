"""Benchmark the pull-request job's critical path, run locally the way the workflow runs it.

    make bench-ci          # or: python benchmarks/ci_path.py

Steps, in a throwaway committed copy of the repository:
  1. warm install: `make install` into a new virtual environment, with uv's download cache warm
     (what setup-uv's cache gives the workflow), bytecode compilation included;
  2. `make data` (bootstrap), `reproduce` (dvc repro of all four stages, nothing cached, and the
     check of the committed outputs), `report`, `gate`: the ml-gate job's steps.
Targets on 2 cores: pipeline + report + gate under 60 s; warm install under 90 s.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from _common import ROOT, env, measure, workspace


def main() -> None:
    rows: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-ci-") as tmp_name:
        tmp = Path(tmp_name)
        environ = env(tmp)
        work = workspace(tmp, environ)
        venv = tmp / "venv"
        uv = shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
        make = ["make", f"VENV={venv}", f"UV={uv}"]
        # the new venv, not the one running this script, must come first on PATH
        environ["PATH"] = f"{venv / 'bin'}:{environ['PATH'].split(':', 1)[1]}"
        py = str(venv / "bin" / "python")
        steps = [
            ("warm install (make install)", [*make, "install"]),
            ("data (make data)", [*make, "data"]),
            (
                "reproduce (dvc repro, 4 stages, + check)",
                [py, "-m", "pipelines", "reproduce", "--advisory", "--verdict", "reports/reproduction.json"],
            ),
            (
                "report",
                [py, "-m", "pipelines", "report", "--base", "HEAD", "--reproduction", "reports/reproduction.json"],
            ),
            ("gate", [py, "-m", "pipelines", "gate", "--base", "HEAD", "--reproduction", "reports/reproduction.json"]),
        ]
        for label, cmd in steps:
            print(f"{label} ...", file=sys.stderr, flush=True)
            seconds, mib = measure(cmd, work, environ)
            rows.append((label, seconds, mib))
    print("| step | wall time | peak memory |")
    print("|---|---|---|")
    for label, seconds, mib in rows:
        print(f"| {label} | {seconds:.1f} s | {mib:.0f} MiB |")
    install = rows[0][1]
    pipeline = sum(seconds for _, seconds, _ in rows[1:])
    print(f"| **pipeline + report + gate** | **{pipeline:.1f} s** (target < 60 s) | |")
    print(f"| **warm install** | **{install:.1f} s** (target < 90 s) | |")
    slowest = max(rows, key=lambda r: r[1])
    print(f"\nslowest step: {slowest[0]} ({slowest[1]:.1f} s)")


if __name__ == "__main__":
    main()
