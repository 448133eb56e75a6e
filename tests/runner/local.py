"""`make act WORKFLOW=pull-request JOB=pipeline`: one workflow job run locally the way the workflow tier runs it.

Your committed branch and uncommitted edits are copied into a temporary sandbox shaped like GitHub's
runner (tests/runner/sandbox.py): an empty HOME, no git identity, a bare `origin` holding your branches,
a fake GitHub API (nothing reaches github.com, whatever `gh auth` says), stand-ins for cache, artifacts
and the App token. A pull-request workflow is run for your branch against `main`; a push workflow for
a push of your branch; the rest as workflow_dispatch. What this cannot check: docs/OPERATIONS.md,
"Running a workflow locally".
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.runner.sandbox import Sandbox, pull_request_event, push_event

ROOT = Path(__file__).resolve().parents[2]


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def copy_project(root: Path) -> tuple[Path, str]:
    """A bare origin with this repository's branches, and a clone whose HEAD is the current branch plus the
    uncommitted edits (committed there as one commit): (work tree, branch name)."""
    branch = _git("rev-parse", "--abbrev-ref", "HEAD", cwd=ROOT)
    branch = "local" if branch == "HEAD" else branch
    origin, work = root / "origin.git", root / "work"
    subprocess.run(["git", "clone", "--quiet", "--bare", "--no-local", str(ROOT), str(origin)], check=True)
    subprocess.run(["git", "clone", "--quiet", str(origin), str(work)], check=True)
    _git("checkout", "--quiet", "-B", branch, f"origin/{branch}" if branch != "local" else "HEAD", cwd=work)
    listed = _git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT).split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, work / name)
    _git("add", "-A", cwd=work)
    who = ["-c", "user.name=you", "-c", "user.email=you@example.invalid"]
    _git(*who, "commit", "--quiet", "--allow-empty", "-m", "your working copy", cwd=work)
    _git("push", "--quiet", "--force", "origin", f"HEAD:refs/heads/{branch}", cwd=work)
    return work, branch


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[0]:
        print("usage: make act WORKFLOW=pull-request JOB=pipeline (JOB may be empty: every job)", file=sys.stderr)
        return 2
    workflow, job = argv[0].removesuffix(".yml") + ".yml", argv[1] or None
    if not (ROOT / ".github" / "workflows" / workflow).is_file():
        print(f"no .github/workflows/{workflow}", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="act-"))
    work, branch = copy_project(root)
    sandbox = Sandbox(root, work, Path(sys.prefix))
    try:
        head, base = sandbox.sha("HEAD"), sandbox.origin_sha("main") or sandbox.sha("HEAD")
        print(f"[act] {workflow} {job or '(every job)'} on {branch} in {root} (a few minutes)...", file=sys.stderr)
        if workflow.startswith("pull-request") or workflow == "promotion-gate.yml":
            state = sandbox.github.state
            number = state.next_number()
            state.pulls[number] = {"number": number, "state": "open", "title": branch, "body": "",
                                   "head": {"ref": branch}, "base": {"ref": "main"}}  # fmt: skip
            event = pull_request_event(number, branch, head, "main", base)
            run = sandbox.run("pull_request", workflow, event, sandbox.pull_merge_commit(number), job=job)
        elif workflow in ("main.yml", "deploy.yml"):
            run = sandbox.run("push", workflow, push_event(base, head, branch), head, job=job)
        else:
            run = sandbox.run(
                "workflow_dispatch", workflow, {"ref": f"refs/heads/{branch}", "inputs": {}}, head, job=job
            )
    finally:
        sandbox.close()
    for name, ended in run.jobs.items():
        print(f"[act] job {name}: {ended.result}", file=sys.stderr)
        if ended.summary:
            print(ended.summary, file=sys.stderr)
    if not run.jobs:
        print("[act] no job ran (check JOB and the workflow's triggers)", file=sys.stderr)
        return 1
    print(f"[act] full log: {root}/act-1-{workflow}.log", file=sys.stderr)
    return 0 if all(j.result == "success" for j in run.jobs.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
