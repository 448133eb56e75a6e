"""Everything that talks to GitHub, behind two small interfaces so tests can stand in for them.

- `GitHub`: the REST API, through the `gh` CLI (`gh api`), authenticated by GH_TOKEN.
- `Commenter`: posts or updates the one report comment, through CML.

Nothing here imports third-party packages: the comment workflow runs it on the runner's own
Python without installing the project (it never executes pull-request code).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pipelines.errors import PipelineError

REPORT_FILE = "report.md"
PR_FILE = "pr.json"
MAX_REPORT_BYTES = 60_000  # GitHub rejects comments over 65,536 characters
MAX_PR_FILE_BYTES = 1_000
WATERMARK = "gitops-ml report"
_SHA = re.compile(r"^[0-9a-f]{40}$")
_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
# Markdown images and <img> tags whose source is not an https URL: CML would upload such local
# files to an image host, so a report that names /proc/self/environ must not get that far.
_LOCAL_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\((?!https://)[^)]*\)")
_LOCAL_HTML_IMAGE = re.compile(r"<img\b[^>]*\bsrc\s*=\s*[\"']?(?!https://)[^>]*>", re.IGNORECASE)


class GitHubError(PipelineError, RuntimeError):
    """A GitHub API call failed, or untrusted input was refused."""


class GitHub(Protocol):
    """The REST API calls the package makes (paths relative to the API root, JSON payloads)."""

    def get(self, path: str) -> Any:
        """GET `path`; the decoded JSON."""

    def put(self, path: str, payload: Mapping[str, Any]) -> Any:
        """PUT `payload` to `path`; the decoded JSON."""

    def post(self, path: str, payload: Mapping[str, Any]) -> Any:
        """POST `payload` to `path`; the decoded JSON."""

    def patch(self, path: str, payload: Mapping[str, Any]) -> Any:
        """PATCH `path` with `payload`; the decoded JSON."""


class Commenter(Protocol):
    """Posts or updates the one report comment on a pull request."""

    def update(self, pr_number: int, markdown_file: Path) -> None:
        """Create or update the report comment on pull request `pr_number` from a markdown file."""


class GhCli:
    """`gh api`, with the token from GH_TOKEN (or GITHUB_TOKEN) in the environment."""

    def _call(self, args: Sequence[str], payload: Mapping[str, Any] | None = None) -> Any:
        result = subprocess.run(
            ["gh", "api", *args, *(["--input", "-"] if payload is not None else [])],
            input=json.dumps(payload) if payload is not None else None,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise GitHubError(f"gh api {' '.join(args)} failed: {result.stderr.strip()}")
        return json.loads(result.stdout) if result.stdout.strip() else None

    def get(self, path: str) -> Any:
        """GET through `gh api`."""
        return self._call([path])

    def put(self, path: str, payload: Mapping[str, Any]) -> Any:
        """PUT through `gh api`."""
        return self._call(["--method", "PUT", path], payload)

    def post(self, path: str, payload: Mapping[str, Any]) -> Any:
        """POST through `gh api`."""
        return self._call(["--method", "POST", path], payload)

    def patch(self, path: str, payload: Mapping[str, Any]) -> Any:
        """PATCH through `gh api`."""
        return self._call(["--method", "PATCH", path], payload)


@dataclass(frozen=True)
class CmlCommenter:
    """`cml comment update`: one comment per pull request, found again by its watermark."""

    def update(self, pr_number: int, markdown_file: Path) -> None:
        """`cml comment update` on pull request `pr_number`, found again by the watermark; GitHubError on failure."""
        env = {**os.environ, "ITERATIVE_DO_NOT_TRACK": "1"}
        cmd = [
            "cml",
            "comment",
            "update",
            f"--target=pr/{pr_number}",
            f"--watermark-title={WATERMARK}",
            "--no-publish",
            str(markdown_file),
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
        if result.returncode != 0:
            raise GitHubError(f"cml comment update failed: {result.stderr.strip()}")


def sanitise(markdown: str) -> str:
    """Drop images that point at anything but an https URL; cap the length."""
    text = _LOCAL_MD_IMAGE.sub(lambda m: f"[image removed: {m.group(1) or 'local file'}]", markdown)
    text = _LOCAL_HTML_IMAGE.sub("[image removed: local file]", text)
    if len(text.encode()) > MAX_REPORT_BYTES:
        text = text.encode()[:MAX_REPORT_BYTES].decode(errors="ignore") + "\n\n_(report truncated)_\n"
    return text


def _read_capped(path: Path, limit: int) -> bytes:
    if path.is_symlink() or not path.is_file():
        raise GitHubError(f"artifact: {path.name} is missing or not a regular file")
    if path.stat().st_size > limit:
        raise GitHubError(f"artifact: {path.name} is {path.stat().st_size} bytes; the limit is {limit}")
    return path.read_bytes()


def post_report(
    artifact: Path, *, repo: str, head_sha: str, github: GitHub, commenter: Commenter, workdir: Path
) -> int:
    """Validate a report artifact from an untrusted run and post it on its pull request.

    The artifact says which pull request it belongs to; that claim is only believed if the pull
    request's current head is the commit the trusted workflow_run event names. Returns the number.
    """
    if not _REPO.match(repo):
        raise GitHubError(f"invalid repository name {repo!r}")
    if not _SHA.match(head_sha):
        raise GitHubError(f"invalid head sha {head_sha!r}")
    try:
        claim = json.loads(_read_capped(artifact / PR_FILE, MAX_PR_FILE_BYTES))
    except json.JSONDecodeError as exc:
        raise GitHubError(f"artifact: {PR_FILE} is not JSON ({exc})") from None
    number = claim.get("number") if isinstance(claim, dict) else None
    if not isinstance(number, int) or isinstance(number, bool) or not 0 < number < 10**9:
        raise GitHubError(f"artifact: {PR_FILE} has no valid pull request number")
    if claim.get("head_sha") != head_sha:
        raise GitHubError("artifact: its head sha does not match the workflow run's head sha")
    pull = github.get(f"repos/{repo}/pulls/{number}")
    if not isinstance(pull, dict) or pull.get("head", {}).get("sha") != head_sha:
        raise GitHubError(f"pull request #{number} is not at {head_sha[:12]}: refusing to comment")
    report = _read_capped(artifact / REPORT_FILE, 4 * MAX_REPORT_BYTES).decode("utf-8", errors="replace")
    clean = workdir / REPORT_FILE
    clean.write_text(sanitise(report), encoding="utf-8")
    commenter.update(number, clean)
    return number


def protection_payload(rules: Mapping[str, Any]) -> dict[str, Any]:
    """The body of PUT /repos/{repo}/branches/{branch}/protection for one branch's rules."""
    approvals = int(rules.get("required_approvals", 0))
    return {
        "required_status_checks": {
            "strict": bool(rules.get("up_to_date", True)),
            "contexts": list(rules.get("required_checks", [])),
        },
        "enforce_admins": bool(rules.get("enforce_admins", False)),
        "required_pull_request_reviews": (
            {
                "required_approving_review_count": approvals,
                "dismiss_stale_reviews": bool(rules.get("dismiss_stale_reviews", True)),
            }
            if rules.get("require_pull_request", True)
            else None
        ),
        "restrictions": None,
        "allow_force_pushes": False,
        "allow_deletions": False,
    }


def protection_calls(settings: Mapping[str, Any], repo: str) -> list[tuple[str, dict[str, Any]]]:
    """(API path, payload) for every protected branch in the settings file."""
    if not _REPO.match(repo):
        raise GitHubError(f"invalid repository name {repo!r}")
    branches = settings.get("branches")
    if not isinstance(branches, dict) or not branches:
        raise GitHubError("the settings file has no `branches:` mapping")
    return [
        (f"repos/{repo}/branches/{branch}/protection", protection_payload(rules or {}))
        for branch, rules in branches.items()
    ]


def environment_calls(settings: Mapping[str, Any], repo: str, resolve: Any = None) -> list[tuple[str, dict[str, Any]]]:
    """(API path, payload) for every GitHub Environment; `resolve(reviewer)` turns a login or
    org/team into {"type": ..., "id": ...} (None leaves the name, for a dry run)."""
    if not _REPO.match(repo):
        raise GitHubError(f"invalid repository name {repo!r}")
    calls = []
    for name, rules in (settings.get("environments") or {}).items():
        rules = rules or {}
        reviewers = [
            resolve(r) if resolve else {"type": "Team" if "/" in r else "User", "name": r}
            for r in rules.get("reviewers", [])
        ]
        payload: dict[str, Any] = {
            "reviewers": reviewers or None,
            "prevent_self_review": bool(rules.get("prevent_self_review", False)),
            # only protected branches (the environment branches) may deploy here
            "deployment_branch_policy": {"protected_branches": True, "custom_branch_policies": False},
        }
        calls.append((f"repos/{repo}/environments/{name}", payload))
    return calls


def reviewer_resolver(github: GitHub) -> Any:
    """A function turning a login or org/team slug into GitHub's {type, id} reviewer object."""

    def resolve(reviewer: str) -> dict[str, Any]:
        if "/" in reviewer:
            org, team = reviewer.split("/", 1)
            return {"type": "Team", "id": int(github.get(f"orgs/{org}/teams/{team}")["id"])}
        return {"type": "User", "id": int(github.get(f"users/{reviewer}")["id"])}

    return resolve


DRIFT_LABEL = "drift"


def _number(answer: Any, request: str) -> int:
    """The `number` of an issue or pull request the API returned; GitHubError naming `request` when the
    answer has none (an error page from a proxy, an API that changed, a stand-in that answers otherwise)."""
    number = answer.get("number") if isinstance(answer, dict) else None
    if isinstance(number, bool) or not isinstance(number, int):
        shown = json.dumps(answer)[:200] if answer is not None else "nothing"
        raise GitHubError(f"{request}: the answer has no pull request or issue number (it was {shown})")
    return number


def _first(answer: Any, request: str) -> dict[str, Any] | None:
    """The first item of a list the API returned (None for an empty list); GitHubError when not a list."""
    if not isinstance(answer, list):
        raise GitHubError(f"{request}: expected a list, got {json.dumps(answer)[:200]}")
    return answer[0] if answer else None


def upsert_drift_issue(github: GitHub, repo: str, title: str, body: str) -> tuple[int, bool]:
    """Create the one open drift issue, or update it; (number, created)."""
    if not _REPO.match(repo):
        raise GitHubError(f"invalid repository name {repo!r}")
    return upsert_issue(github, repo, DRIFT_LABEL, title, body)


def upsert_issue(github: GitHub, repo: str, label: str, title: str, body: str) -> tuple[int, bool]:
    """Create the one open issue carrying `label`, or update it; (number, created)."""
    if not _REPO.match(repo):
        raise GitHubError(f"invalid repository name {repo!r}")
    listing = f"GET repos/{repo}/issues?state=open&labels={label}"
    found = _first(github.get(f"repos/{repo}/issues?state=open&labels={label}&per_page=1"), listing)
    if found:
        number = _number(found, listing)
        github.patch(f"repos/{repo}/issues/{number}", {"title": title, "body": body})
        return number, False
    created = github.post(f"repos/{repo}/issues", {"title": title, "body": body, "labels": [label]})
    return _number(created, f"POST repos/{repo}/issues"), True


def dispatch_workflow(github: GitHub, repo: str, workflow: str, ref: str) -> None:
    """Start `workflow` (a file name under .github/workflows) on `ref` (workflow_dispatch)."""
    github.post(f"repos/{repo}/actions/workflows/{workflow}/dispatches", {"ref": ref})


def upsert_pull_request(github: GitHub, repo: str, head: str, base: str, title: str, body: str) -> tuple[int, bool]:
    """Create the pull request head -> base, or update the open one; (number, created)."""
    if not _REPO.match(repo):
        raise GitHubError(f"invalid repository name {repo!r}")
    owner = repo.split("/")[0]
    listing = f"GET repos/{repo}/pulls?head={owner}:{head}&base={base}"
    found = _first(github.get(f"repos/{repo}/pulls?state=open&head={owner}:{head}&base={base}"), listing)
    if found:
        number = _number(found, listing)
        github.patch(f"repos/{repo}/pulls/{number}", {"title": title, "body": body})
        return number, False
    created = github.post(f"repos/{repo}/pulls", {"title": title, "body": body, "head": head, "base": base})
    return _number(created, f"POST repos/{repo}/pulls ({head} -> {base})"), True


@dataclass(frozen=True)
class Call:
    """One GitHub API call setup makes; `note` says when it is skipped."""

    method: str
    path: str
    payload: dict[str, Any] | None = None
    note: str = ""

    def command(self) -> str:
        """The exact `gh api` command line (the payload on stdin)."""
        line = f"gh api --method {self.method} {self.path}"
        if self.payload is None:
            return line
        return f"{line} --input - <<'JSON'\n{json.dumps(self.payload, indent=2)}\nJSON"


def setup_calls(
    settings: Mapping[str, Any], repo: str, main_sha: str, github: GitHub | None = None, resolve: Any = None
) -> list[Call]:
    """Every call of the one-time repository setup, in order: environment branches (from main's
    commit), GitHub Environments, repository variables, branch protection.

    With `github`, calls whose result already exists are left out (a branch, a variable with the same
    value); without it (a dry run) they are all listed, with a note saying when they would be skipped.
    """
    if not _REPO.match(repo):
        raise GitHubError(f"invalid repository name {repo!r}")
    if not re.fullmatch(r"[0-9a-f]{40}", main_sha):
        raise GitHubError(f"main's commit {main_sha!r} is not a full SHA")
    calls: list[Call] = []
    for branch in settings.get("environments") or {}:
        if github is not None and github.get(f"repos/{repo}/git/matching-refs/heads/{branch}"):
            continue
        payload = {"ref": f"refs/heads/{branch}", "sha": main_sha}
        calls.append(Call("POST", f"repos/{repo}/git/refs", payload, f"only if branch {branch} does not exist yet"))
    calls += [Call("PUT", path, payload) for path, payload in environment_calls(settings, repo, resolve)]
    variables = {str(k): str(v) for k, v in (settings.get("variables") or {}).items() if v not in (None, "")}
    existing: dict[str, str] = {}
    if github is not None and variables:
        listed = github.get(f"repos/{repo}/actions/variables?per_page=100") or {}
        existing = {v["name"]: v["value"] for v in listed.get("variables", [])}
    for name, value in variables.items():
        if name in existing:
            if existing[name] != value:
                calls.append(Call("PATCH", f"repos/{repo}/actions/variables/{name}", {"name": name, "value": value}))
        else:
            note = "" if github is not None else f"PATCH repos/{repo}/actions/variables/{name} instead if it exists"
            calls.append(Call("POST", f"repos/{repo}/actions/variables", {"name": name, "value": value}, note))
    calls += [Call("PUT", path, payload) for path, payload in protection_calls(settings, repo)]
    return calls


def missing_reviewers(settings: Mapping[str, Any]) -> str | None:
    """The last environment (production) must name reviewers; the name of the one that does not."""
    environments = list((settings.get("environments") or {}).items())
    if not environments:
        return None
    name, rules = environments[-1]
    return None if (rules or {}).get("reviewers") else str(name)
