"""The one git wrapper: every git command the package runs goes through `run`.

Queries (which commit, what a file was at a revision, what changed), branch and push operations
for the workflows, and the plumbing that writes a commit without touching the work tree
(pipelines.adapters.record).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipelines.errors import PipelineError


class GitError(PipelineError, RuntimeError):
    """A git command failed in a way the caller cannot work around."""


BOT_NAME = "github-actions[bot]"
BOT_EMAIL = "41898282+github-actions[bot]@users.noreply.github.com"
# The git commands that write a commit object and so need an author and a committer.
_COMMITTING = frozenset({"commit", "commit-tree", "merge", "revert", "cherry-pick", "am", "rebase"})


def identity_env(cwd: str | Path | None = None) -> dict[str, str]:
    """The bot identity as GIT_AUTHOR_*/GIT_COMMITTER_* variables, or {} when one is already configured.

    GitHub's hosted runners have no git identity (`actions/checkout` sets none), so a workflow step that
    commits fails with "Author identity unknown". A configured identity always wins: `user.email` from
    any git config (repository, global, system) or GIT_AUTHOR_EMAIL/GIT_COMMITTER_EMAIL in the environment.
    """
    if os.environ.get("GIT_AUTHOR_EMAIL") or os.environ.get("GIT_COMMITTER_EMAIL"):
        return {}
    try:
        configured = subprocess.run(
            ["git", "config", "user.email"], capture_output=True, cwd=cwd, check=False
        ).stdout.strip()
    except OSError:
        return {}
    if configured:
        return {}
    return {
        "GIT_AUTHOR_NAME": BOT_NAME,
        "GIT_AUTHOR_EMAIL": BOT_EMAIL,
        "GIT_COMMITTER_NAME": BOT_NAME,
        "GIT_COMMITTER_EMAIL": BOT_EMAIL,
    }


def run(
    *args: str,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    input: bytes | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """`git <args>` with output captured (bytes); GitError naming the command when it fails and `check`.

    A command that writes a commit gets the bot identity when none is configured (`identity_env`).
    """
    if args and args[0] in _COMMITTING:
        env = {**identity_env(cwd), **(env or {})}
    try:
        result = subprocess.run(
            ["git", *args],
            capture_output=True,
            cwd=cwd,
            input=input,
            check=False,
            env={**os.environ, **env} if env else None,
        )
    except OSError as exc:
        raise GitError(f"git is not available: {exc}") from None
    if check and result.returncode != 0:
        raise GitError(f"git {' '.join(args[:3])} failed: {result.stderr.decode(errors='replace').strip()}")
    return result


def text(*args: str, cwd: str | Path | None = None, env: Mapping[str, str] | None = None) -> str:
    """The stripped standard output of a git command that must succeed."""
    return run(*args, cwd=cwd, env=env).stdout.decode().strip()


def commit() -> str:
    """HEAD's commit, with a `-dirty` suffix when tracked files have uncommitted changes ("unknown" outside git)."""
    try:
        sha = text("rev-parse", "HEAD")
        dirty = text("status", "--porcelain", "--untracked-files=no")
    except GitError:
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


def current_branch() -> str | None:
    """The branch HEAD is on, or None when detached (a CI checkout of a merge commit) or outside git."""
    result = run("symbolic-ref", "--quiet", "--short", "HEAD", check=False)
    return result.stdout.decode().strip() or None if result.returncode == 0 else None


def resolve(rev: str) -> str | None:
    """The full commit hash of `rev`, or None if it does not exist here."""
    result = run("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
    return result.stdout.decode().strip() or None


def branch_ref(name: str) -> str:
    """`name` if it is a local branch (or any revision), else `origin/<name>` (as in a CI checkout)."""
    if resolve(name) is None and resolve(f"origin/{name}") is not None:
        return f"origin/{name}"
    return name


def show_bytes(rev: str, path: str) -> bytes | None:
    """The bytes of `path` at `rev`, or None if the file (or the revision) does not exist."""
    result = run("show", f"{rev}:{path}", check=False)
    return result.stdout if result.returncode == 0 else None


def show(rev: str, path: str) -> str | None:
    """The text of `path` at `rev`, or None if the file (or the revision) does not exist."""
    content = show_bytes(rev, path)
    return None if content is None else content.decode()


def show_json(rev: str, path: str, strict: bool = True) -> Any:
    """The JSON file `path` at `rev` parsed, or None where it is absent. Invalid JSON raises GitError naming the
    file when `strict` (a file the caller relies on: a record, a release), and is None otherwise (a file a report
    only shows, at a base that may predate it). The one reader of committed JSON."""
    text = show(rev, path)
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if strict:
            raise GitError(f"{rev}:{path} is not valid JSON ({exc})") from None
        return None


def files_at(rev: str, path: str) -> dict[str, bytes] | None:
    """The files of `path` at `rev`: {"": content} for a file, {relative path: content} for a
    directory, None if neither exists there."""
    listed = run("ls-tree", "-r", "--name-only", rev, "--", path, check=False)
    if listed.returncode != 0:
        return None
    names = [line for line in listed.stdout.decode().splitlines() if line]
    if names == [path]:
        content = show_bytes(rev, path)
        return None if content is None else {"": content}
    found = {}
    for name in names:
        content = show_bytes(rev, name)
        if content is not None:
            found[name[len(path.rstrip("/")) + 1 :]] = content
    return found or None


def changed_files(base: str, head: str = "HEAD") -> list[str]:
    """Files that differ between two revisions; GitError if `base` is not here."""
    if resolve(base) is None:
        raise GitError(f"base revision {base!r} not found (fetch it, e.g. checkout with fetch-depth: 0)")
    return [line for line in text("diff", "--name-only", base, head).splitlines() if line]


def modified(paths: list[str]) -> list[str]:
    """Which of `paths` (files or directories) `git status` lists as changed, by path."""
    out = run("status", "--porcelain", "--", *paths).stdout.decode()
    return sorted(line[3:] for line in out.splitlines() if line.strip())


def first_parent_log(rev: str, paths: list[str]) -> list[tuple[str, str, str]]:
    """(commit, ISO commit time, subject) of the first-parent commits of `rev` that changed `paths`, oldest first."""
    out = text("log", "--first-parent", "--reverse", "--format=%H %cI %s", rev, "--", *paths)
    return [tuple([*line.split(" ", 2), ""][:3]) for line in out.splitlines()]  # type: ignore[misc]


def parents(rev: str) -> list[str]:
    """The parent commits of `rev`."""
    return text("rev-list", "--parents", "-n", "1", rev).split()[1:]


def message(rev: str, subject_only: bool = False) -> str:
    """The commit message of `rev` (or its first line)."""
    return text("log", "-1", f"--format={'%s' if subject_only else '%B'}", rev)


def has_origin() -> bool:
    """Whether this repository has a remote named origin."""
    return run("remote", "get-url", "origin", check=False).returncode == 0


def fetch(ref: str) -> None:
    """Fetch `ref` from origin."""
    run("fetch", "--quiet", "origin", ref)


def push(source: str, branch: str, force: bool = False, cwd: str | Path | None = None) -> None:
    """Push `source` (a ref or commit) to origin's `branch`."""
    run("push", "--quiet", *(["--force"] if force else []), "origin", f"{source}:refs/heads/{branch}", cwd=cwd)


def switch_new(branch: str) -> None:
    """Create `branch` at HEAD and switch to it (the work tree keeps its changes)."""
    run("switch", "--quiet", "-c", branch)


def commit_tracked(message: str) -> None:
    """Commit every change to tracked files."""
    run("add", "--update")
    run("commit", "--quiet", "-m", message)


def worktree_add(path: Path, rev: str) -> None:
    """A detached work tree of `rev` at `path`."""
    run("worktree", "add", "--quiet", "--detach", str(path), rev)


def worktree_remove(path: Path) -> None:
    """Remove a work tree made by `worktree_add` (never fails)."""
    run("worktree", "remove", "--force", str(path), check=False)


def restore_tree(target_commit: str, message: str, cwd: str | Path) -> str:
    """Commit, on top of HEAD in `cwd`, the exact tree of `target_commit` (a revert of everything since)."""
    run("read-tree", "-u", "--reset", target_commit, cwd=cwd)
    run("commit", "--allow-empty", "-m", message, cwd=cwd)
    return text("rev-parse", "HEAD", cwd=cwd)


def set_branch(branch: str, rev: str, cwd: str | Path | None = None) -> None:
    """Point the local `branch` at `rev`."""
    run("update-ref", f"refs/heads/{branch}", rev, cwd=cwd)


def commit_time(rev: str, path: str | None = None) -> float | None:
    """When `rev` (or, with `path`, the last commit of `rev` that changed it) was committed, in seconds since
    the epoch; None when there is no such commit."""
    found = run("log", "-1", "--format=%ct", rev, *(["--", path] if path else []), check=False)
    stamp = found.stdout.decode().strip() if found.returncode == 0 else ""
    return float(stamp) if stamp else None
