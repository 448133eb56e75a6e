"""`make act WORKFLOW=pull-request JOB=pipeline`: one workflow job run locally the way the workflow tier runs it.

Your working copy (your branch with its uncommitted edits, deletions included) becomes the head of a pull
request into `main` as your `origin` last showed it (`origin/main`, else your local `main`), in a temporary
sandbox shaped like GitHub's runner (tests/runner/sandbox.py): an empty HOME, no git identity or git
config, a bare `origin`, a fake GitHub API (nothing reaches github.com, whatever `gh auth` says), stand-ins
for cache, artifacts and the App token. pull-request.yml runs for that pull request; main.yml, deploy.yml,
retrain.yml and monitor.yml run as a push of your working copy (or their dispatch or schedule).
pull-request-comment.yml (it needs a finished pull-request run) and promotion-gate.yml (a pull request
into an environment branch) run in `make test-workflows` only. What this cannot check:
docs/OPERATIONS.md, "Running a workflow locally, and the workflow tier".
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from tests.runner.sandbox import Sandbox, pull_request_event, push_event

# the project whose working copy is run: this checkout (a test points it at a copy)
ROOT = Path(os.environ.get("PIPELINES_ACT_PROJECT") or Path(__file__).resolve().parents[2])
HEAD_BRANCH = "act/working-copy"
SUPPORTED = {"pull-request.yml": "pull_request", "main.yml": "push", "deploy.yml": "push",
             "retrain.yml": "workflow_dispatch", "monitor.yml": "schedule", "template-selftest.yml": "push",
             "deploy-kind.yml": "pull_request", "workflow-lint.yml": "push"}  # fmt: skip
# git with nothing of the machine's config (no signing, hooks or identity of yours), and a fixed identity
GIT_ENV = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "you",
           "GIT_AUTHOR_EMAIL": "you@example.invalid", "GIT_COMMITTER_NAME": "you",
           "GIT_COMMITTER_EMAIL": "you@example.invalid"}  # fmt: skip


class LocalError(Exception):
    """What stops `make act`, said in one line."""


def _git(*args: str, cwd: Path) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise LocalError(f"git {' '.join(args[:3])} failed: {result.stderr.strip()}")
    return result.stdout.strip()


def _base(root: Path) -> str:
    """The commit the pull request goes into: main as origin last showed it, else the local main."""
    for ref in ("refs/remotes/origin/main", "refs/heads/main"):
        found = subprocess.run(["git", "rev-parse", "--verify", "--quiet", ref], cwd=root, env=GIT_ENV,
                               capture_output=True, text=True, check=False).stdout.strip()  # fmt: skip
        if found:
            return found
    raise LocalError("this repository has no main branch (nor origin/main) to compare with")


def copy_project(root: Path) -> Path:
    """A bare origin whose `main` is the base and whose HEAD_BRANCH is the working copy, and a clone of it on
    HEAD_BRANCH: the working tree copied over the current commit (new, changed and deleted files)."""
    origin, work = root / "origin.git", root / "work"
    _git("init", "--quiet", "--bare", str(origin), cwd=root)
    _git("push", "--quiet", str(origin), f"{_base(ROOT)}:refs/heads/main", "HEAD:refs/heads/act/head", cwd=ROOT)
    _git("clone", "--quiet", "--branch", "act/head", str(origin), str(work), cwd=root)
    _git("checkout", "--quiet", "-B", HEAD_BRANCH, cwd=work)
    listed = _git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT).split("\0")
    for name in filter(None, listed):
        source, target = ROOT / name, work / name
        if source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
        elif not source.exists() and target.exists():  # deleted in the working copy
            target.unlink()
    _git("add", "-A", cwd=work)
    _git("commit", "--quiet", "--allow-empty", "-m", "your working copy", cwd=work)
    _git("push", "--quiet", "origin", f"{HEAD_BRANCH}:refs/heads/{HEAD_BRANCH}", cwd=work)
    _git("push", "--quiet", "origin", ":refs/heads/act/head", cwd=work)
    return work


def jobs_of(workflow: Path) -> list[str]:
    return list((yaml.safe_load(workflow.read_text()) or {}).get("jobs") or {})


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[0]:
        print("usage: make act WORKFLOW=pull-request JOB=pipeline (JOB empty: every job)", file=sys.stderr)
        return 2
    workflow, job = argv[0].removesuffix(".yml") + ".yml", argv[1] or None
    path = ROOT / ".github" / "workflows" / workflow
    if not path.is_file() or path.resolve().parent != (ROOT / ".github" / "workflows").resolve():
        print(f"act: no workflow .github/workflows/{workflow}", file=sys.stderr)
        return 2
    if workflow not in SUPPORTED:
        print(f"act: {workflow} needs state this command does not make (a finished run, an environment's pull "
              "request); `make test-workflows` runs it in its scenarios", file=sys.stderr)  # fmt: skip
        return 2
    if job is not None and job not in jobs_of(path):
        print(f"act: {workflow} has no job {job!r}; its jobs: {', '.join(jobs_of(path))}", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="act-"))
    try:
        work = copy_project(root)
    except LocalError as exc:
        print(f"act: {exc}", file=sys.stderr)
        shutil.rmtree(root, ignore_errors=True)
        return 1
    sandbox = Sandbox(root, work, Path(sys.prefix))
    event = SUPPORTED[workflow]
    print(f"[act] {workflow} {job or '(every job)'}: your working copy as a {event} event in {root}; each job "
          "installs nothing and runs the pipeline, so allow a few minutes", file=sys.stderr)  # fmt: skip
    try:
        head, base = sandbox.origin_sha(HEAD_BRANCH) or "", sandbox.origin_sha("main") or ""
        if event == "pull_request":
            state = sandbox.github.state
            number = state.next_number()
            state.pulls[number] = {"number": number, "state": "open", "title": "your working copy", "body": "",
                                   "head": {"ref": HEAD_BRANCH}, "base": {"ref": "main"}}  # fmt: skip
            payload = pull_request_event(number, HEAD_BRANCH, head, "main", base)
            run = sandbox.run(event, workflow, payload, sandbox.pull_merge_commit(number), job=job)
        elif event == "push":
            run = sandbox.run(event, workflow, push_event(base, head, "main"), head, job=job)
        else:
            run = sandbox.run(event, workflow, {"ref": "refs/heads/main", "inputs": {}}, head, job=job)
    finally:
        sandbox.close()
    log = next(root.glob("act-*.log"), None)
    for name, ended in run.jobs.items():
        print(f"[act] job {name}: {ended.result}", file=sys.stderr)
        if ended.result != "success":  # why: its error annotations, else the end of its log
            why = [text for level, text in ended.annotations if level == "error"] or ended.log.splitlines()[-25:]
            print("\n".join(f"    {line.strip()}" for line in why), file=sys.stderr)
        if name == "tests" and "TESTS" not in os.environ:
            print("[act] (the tests job ran `make test` on tests/unit/test_gate.py only, as the workflow tier "
                  "does; `make test` runs the suite)", file=sys.stderr)  # fmt: skip
    ok = bool(run.jobs) and all(j.result == "success" for j in run.jobs.values())
    if not run.jobs:
        print(
            f"[act] no job ran: check the workflow's triggers and `if:` conditions; act's log: {log}", file=sys.stderr
        )
    elif ok:
        shutil.rmtree(root, ignore_errors=True)
        print("[act] passed (the sandbox was removed)", file=sys.stderr)
    else:
        print(f"[act] failed; the sandbox and act's full log are kept: {log}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
