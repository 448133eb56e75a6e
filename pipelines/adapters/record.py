"""The model of record and the commit that carries it toward an environment.

A model built after a merge to main (on a CPU that may differ from the author's) has a manifest
whose bytes differ from main's, and it gains an image digest and a promotion verdict on the way.
None of that is committed to main: it goes into one commit on `promote/<env>`, whose tree is the
source revision's tree plus those files and whose parents are the environment branch (so that the
promotion pull request `promote/<env> -> <env>` merges without conflicts and leaves the environment
with exactly that tree) and the source revision (so that history shows what it came from).

Files of the record (paths from dvc.yaml's `paths`):
- the pipeline outputs git holds (dvc.lock, metrics, plots, manifest, profile, holdout outputs);
- `release`: the model hash, the image by digest, the source commit and data hash;
- `promotion`: the promotion gate's verdict on this model against the environment's.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipelines.adapters import git
from pipelines.errors import PipelineError


class RecordError(PipelineError):
    """A record commit cannot be made or read."""


RECORD_SUBJECT = "Model of record"


def branch(env: str) -> str:
    """The branch that carries a record toward `env`: the head of its promotion pull request."""
    return f"promote/{env}"


def _git(*args: str, env: Mapping[str, str] | None = None, input: bytes | None = None) -> str:
    try:
        return git.run(*args, env=env, input=input).stdout.decode().strip()
    except git.GitError as exc:
        raise RecordError(str(exc)) from None


def _tree_with(base: str, files: Mapping[str, bytes], directories: tuple[str, ...] = ()) -> str:
    """A tree object: `base`'s tree with `files` written over it; each of `directories` is replaced
    whole (files of it that `files` does not list are removed)."""
    with tempfile.TemporaryDirectory(prefix="record-index-") as tmp:
        index = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        _git("read-tree", f"{base}^{{tree}}", env=index)
        for directory in directories:
            for name in _git("ls-tree", "-r", "--name-only", base, "--", directory).splitlines():
                if name not in files:
                    _git("update-index", "--force-remove", "--", name, env=index)
        for path, content in sorted(files.items()):
            blob = _git("hash-object", "-w", "--stdin", input=content)
            _git("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=index)
        return _git("write-tree", env=index)


def workspace_files(paths: list[str]) -> dict[str, bytes]:
    """The workspace content of files and directories, keyed by repository path."""
    found: dict[str, bytes] = {}
    for path in paths:
        p = Path(path)
        if p.is_dir():
            found.update({f.as_posix(): f.read_bytes() for f in sorted(p.rglob("*")) if f.is_file()})
        elif p.is_file():
            found[p.as_posix()] = p.read_bytes()
    return found


def start(
    env: str,
    env_ref: str | None,
    source: str,
    files: Mapping[str, bytes],
    message: str,
    directories: tuple[str, ...] = (),
) -> str:
    """Make `promote/<env>` one new commit: `source`'s tree plus `files` (each of `directories`
    replaced whole), with parents `env_ref` (when the environment branch exists) and `source`."""
    source_commit = git.resolve(source)
    if source_commit is None:
        raise RecordError(f"{source}: no such revision")
    parents = []
    if env_ref is not None:
        env_commit = git.resolve(env_ref)
        if env_commit is None:
            raise RecordError(f"{env_ref}: no such revision (fetch the environment branches: fetch-depth: 0)")
        parents.append(env_commit)
    tree = _tree_with(source_commit, files, directories)
    commit = _git("commit-tree", tree, *[a for p in [*parents, source_commit] for a in ("-p", p)], "-m", message)
    _git("update-ref", f"refs/heads/{branch(env)}", commit)
    return commit


def amend(env: str, files: Mapping[str, bytes], note: str) -> str:
    """Add `files` to the commit at `promote/<env>` (same parents; `note` appended to its message)."""
    head = git.resolve(branch(env))
    if head is None:
        raise RecordError(f"no {branch(env)} record here: run `python -m pipelines record --env {env}` first")
    parents = _git("rev-list", "--parents", "-n", "1", head).split()[1:]
    message = _git("log", "-1", "--format=%B", head)
    tree = _tree_with(head, files)
    commit = _git("commit-tree", tree, *[a for p in parents for a in ("-p", p)], "-m", f"{message}\n\n{note}")
    _git("update-ref", f"refs/heads/{branch(env)}", commit, head)
    return commit


def source_of(rev: str) -> str:
    """The commit a record was made from (its last parent), or `rev` itself for any other commit."""
    commit = git.resolve(rev)
    if commit is None:
        raise RecordError(f"{rev}: no such revision")
    parents = _git("rev-list", "--parents", "-n", "1", commit).split()[1:]
    message = _git("log", "-1", "--format=%s", commit)
    return parents[-1] if parents and message.startswith(RECORD_SUBJECT) else commit


def read_json(rev: str, path: str) -> Any:
    """A JSON file of the record at `rev`, or None where it is absent; GitError when it is not valid JSON."""
    return git.show_json(rev, path, strict=True)
