"""The few git questions the pipeline asks: which commit, what a file was at a revision, what changed."""

from __future__ import annotations

import subprocess

from pipelines.errors import PipelineError


class GitError(PipelineError, RuntimeError):
    """A git command failed in a way the caller cannot work around."""


def _git(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
    except OSError as exc:
        raise GitError(f"git is not available: {exc}") from None
    if check and result.returncode != 0:
        raise GitError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result


def commit() -> str:
    """HEAD's commit, with a `-dirty` suffix when tracked files have uncommitted changes."""
    try:
        sha = _git("rev-parse", "HEAD").stdout.strip()
        dirty = _git("status", "--porcelain", "--untracked-files=no").stdout.strip()
    except GitError:
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


def resolve(rev: str) -> str | None:
    """The full commit hash of `rev`, or None if it does not exist here."""
    result = _git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
    return result.stdout.strip() or None


def show(rev: str, path: str) -> str | None:
    """The content of `path` at `rev`, or None if the file (or the revision) does not exist."""
    result = _git("show", f"{rev}:{path}", check=False)
    return result.stdout if result.returncode == 0 else None


def show_bytes(rev: str, path: str) -> bytes | None:
    """The bytes of `path` at `rev`, or None if the file (or the revision) does not exist."""
    try:
        result = subprocess.run(["git", "show", f"{rev}:{path}"], capture_output=True, check=False)
    except OSError as exc:
        raise GitError(f"git is not available: {exc}") from None
    return result.stdout if result.returncode == 0 else None


def files_at(rev: str, path: str) -> dict[str, bytes] | None:
    """The files of `path` at `rev`: {"": content} for a file, {relative path: content} for a
    directory, None if neither exists there."""
    listed = _git("ls-tree", "-r", "--name-only", rev, "--", path, check=False)
    if listed.returncode != 0:
        return None
    names = [line for line in listed.stdout.splitlines() if line]
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
    """Files that differ between two revisions."""
    if resolve(base) is None:
        raise GitError(f"base revision {base!r} not found (fetch it, e.g. checkout with fetch-depth: 0)")
    return [line for line in _git("diff", "--name-only", base, head).stdout.splitlines() if line]
