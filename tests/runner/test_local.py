"""`make act`: a user's working copy (uncommitted edits and deletions) run as a pull request against main."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers.project import Repo, knob

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("test_local")]  # one sandbox, in order


def _act(repo: Repo, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**repo.env, "PIPELINES_ACT_PROJECT": str(repo.path)}
    from tests.helpers.project import ROOT

    return subprocess.run([sys.executable, "-m", "tests.runner.local", *args], cwd=ROOT, env=env, text=True,
                          capture_output=True, timeout=1200, check=False)  # fmt: skip


def test_an_unknown_job_or_workflow_names_what_there_is(repo_copy: Repo) -> None:
    result = _act(repo_copy, "pull-request", "nope")
    assert result.returncode == 2 and "its jobs: pipeline, tests, ml-gate" in result.stderr
    assert _act(repo_copy, "nope", "").returncode == 2
    assert "make test-workflows" in _act(repo_copy, "pull-request-comment", "").stderr


def test_an_uncommitted_stale_change_on_a_branch_fails_with_the_command_and_after_repro_passes(repo_copy: Repo) -> None:
    """On a branch, with the user's own git config refusing to commit (a signing program that fails): the copy
    ignores it. The edit is uncommitted; `dvc repro` then makes the same check pass."""
    repo_copy.git("checkout", "-q", "-b", "try")
    repo_copy.git("config", "commit.gpgsign", "true")
    repo_copy.git("config", "gpg.program", "false")
    (repo_copy.path / "docs" / "FORKING.md").unlink()  # a deletion travels too
    key, value = knob()
    repo_copy.set_param(key, value)
    stale = _act(repo_copy, "pull-request", "pipeline")
    assert stale.returncode == 1, stale.stderr
    assert "[act] job pipeline: failure" in stale.stderr and "dvc repro" in stale.stderr

    repo_copy.dvc("repro")
    fresh = _act(repo_copy, "pull-request", "pipeline")
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    assert "[act] job pipeline: success" in fresh.stderr and "the sandbox was removed" in fresh.stderr
