"""Benchmark the pull-request job's critical path, run locally the way the workflow runs it.

    make bench-ci          # or: python benchmarks/ci_path.py

Steps, in a throwaway committed copy of the repository:
  1. warm install: `make install` into a new virtual environment, with uv's download cache warm
     (what setup-uv's cache gives the workflow), bytecode compilation included;
  2. the pipeline job's `run:` steps, read from .github/workflows/pull-request.yml (so the benchmark
     follows the workflow and cannot drift from it): `changed`, `make data`, `reproduce --force` (every
     stage re-run and the committed outputs checked), `report`, `gate`, with the pull request's
     variables standing for a pull request against HEAD; every step runs, as when the pipeline must.
Targets on 2 cores: pipeline + report + gate under 60 s; warm install under 90 s.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from _common import ROOT, env, measure, workspace

WORKFLOW = ROOT / ".github" / "workflows" / "pull-request.yml"
JOB = "pipeline"


def workflow_steps(work: Path, outputs: Path) -> list[tuple[str, list[str]]]:
    """The pipeline job's `run:` steps as commands, its variables standing for a pull request against HEAD."""
    job = yaml.safe_load(WORKFLOW.read_text())["jobs"][JOB]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=work, capture_output=True, text=True, check=True)
    values = {"BASE_SHA": "HEAD", "HEAD_SHA": head.stdout.strip(), "PR_NUMBER": "1",
              "GITHUB_OUTPUT": str(outputs / "output"), "GITHUB_STEP_SUMMARY": str(outputs / "summary")}  # fmt: skip
    steps = []
    for step in job["steps"]:
        if "run" not in step:
            continue
        words = shlex.split(step["run"])
        unknown = [w for w in words if w.startswith("$") and w[1:] not in values]
        if unknown:
            raise SystemExit(f"{WORKFLOW.name}: step {step['run']!r} uses {unknown}, which this benchmark does not set")
        command = [values.get(w[1:], w) if w.startswith("$") else w for w in words]
        steps.append((" ".join(command[:4]) if command[0] == "python" else " ".join(command), command))
    return steps


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
        steps = [("warm install (make install)", [*make, "install"])]
        for label, command in workflow_steps(work, tmp):
            # `make` and `python` as the workflow runs them: the new environment's, on PATH first
            steps.append((label, [*make, *command[1:]] if command[0] == "make" else command))
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
