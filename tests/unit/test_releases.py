"""An environment's releases, read from git alone (real git, no DVC needed)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from pipelines.adapters import releases as registry
from tests.helpers.project import ROOT, tool_env


def _commit(path: Path, files: dict[str, object], message: str) -> None:
    for name, content in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(content) if not isinstance(content, str) else content)
    subprocess.run(["git", "add", "-A"], cwd=path, check=True)
    subprocess.run(["git", "commit", "-q", "-m", message], cwd=path, check=True)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key, value in tool_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    path = tmp_path / "repo"
    path.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "staging"], cwd=path, check=True)
    shutil.copy(ROOT / "dvc.yaml", path / "dvc.yaml")  # where the paths are defined
    monkeypatch.chdir(path)
    return path


def _manifest(digest: str) -> dict[str, object]:
    return {"content_hash": digest, "files": {"model.skops": digest}}


def test_a_release_record_naming_the_model_the_branch_already_had_is_a_release(repo: Path) -> None:
    """The branch was created at main (manifest A, no record); the first promotion's model of record has the
    same bytes, so only models/release.json changes: that commit is release v1."""
    _commit(repo, {"models/manifest.json": _manifest("a" * 64)}, "created from main")
    assert registry.history("staging") == []
    release = {"model_hash": "a" * 64, "image": "ghcr.io/acme/churn@sha256:" + "1" * 64}
    _commit(repo, {"models/release.json": release}, "Merge promote/staging into staging")
    _commit(repo, {"models/release.json": {**release, "image": release["image"][:-1] + "2"}}, "new image")
    _commit(repo, {"models/manifest.json": _manifest("b" * 64), "models/release.json": {
        "model_hash": "b" * 64, "image": "ghcr.io/acme/churn@sha256:" + "3" * 64}}, "model b")  # fmt: skip

    releases = registry.history("staging")

    assert [(r.version, r.model_hash[0], r.image[-1]) for r in releases] == [(1, "a", "1"), (2, "b", "3")]
    assert registry.current("staging") == releases[-1]


def test_a_manifest_without_a_matching_release_record_is_not_a_release(repo: Path) -> None:
    other = {"model_hash": "z" * 64, "image": "x@sha256:" + "0" * 64}
    _commit(repo, {"models/manifest.json": _manifest("a" * 64), "models/release.json": other}, "mismatch")
    assert registry.current("staging") is None


def test_one_reader_of_committed_json_absent_is_none_and_garbage_is_named_or_none_by_policy(repo: Path) -> None:
    """git.show_json: what a release or record relies on fails naming the file; what a report only shows is
    None for garbage (releases, record and revisions all read through it)."""
    from pipelines.adapters import git, record, revisions

    _commit(repo, {"metrics.json": "{not json", "models/release.json": {"model_hash": "a" * 64}}, "one")
    assert git.show_json("HEAD", "absent.json") is None
    assert git.show_json("HEAD", "models/release.json") == {"model_hash": "a" * 64}
    with pytest.raises(git.GitError, match=r"HEAD:metrics.json is not valid JSON"):
        record.read_json("HEAD", "metrics.json")
    assert revisions.metrics("HEAD", "metrics.json") is None
