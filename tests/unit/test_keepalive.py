"""Scheduled workflows stop silently after 60 days without a commit: `keepalive` warns from git's dates."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.jobs.operations import scheduled_workflows
from tests.helpers.project import ROOT


def test_the_scheduled_workflows_are_found_from_their_triggers() -> None:
    assert scheduled_workflows(ROOT / ".github" / "workflows") == ["monitor.yml", "retrain.yml", "tune.yml"]


def _repo_with_last_commit(tmp_path: Path, days_ago: float) -> tuple[Path, dict[str, str]]:
    repo = tmp_path / "repo"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}, "PYTHONPATH": str(ROOT)}
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "params.yaml").write_bytes((ROOT / "params.yaml").read_bytes())
    (repo / ".github").mkdir()
    (repo / ".github" / "workflows").symlink_to(ROOT / ".github" / "workflows")
    subprocess.run(["git", "add", "params.yaml"], cwd=repo, check=True)
    when = f"@{int(time.time() - days_ago * 86400)} +0000"
    dated = {**env, "GIT_COMMITTER_DATE": when, "GIT_AUTHOR_DATE": when}
    subprocess.run(["git", "commit", "-qm", "last"], cwd=repo, check=True, env=dated)
    return repo, env


@pytest.mark.parametrize(("days_ago", "warned"), [(10, False), (44.5, False), (45.5, True), (70, True)])
def test_a_warning_from_the_configured_number_of_days(tmp_path: Path, days_ago: float, warned: bool) -> None:
    repo, env = _repo_with_last_commit(tmp_path, days_ago)
    summary = tmp_path / "summary.md"
    result = subprocess.run([sys.executable, "-m", "pipelines", "keepalive", "--summary", str(summary)],
                            cwd=repo, env=env, capture_output=True, text=True, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    if warned:
        assert f"no commit for {int(days_ago)} days" in summary.read_text()
        assert "monitor.yml, retrain.yml, tune.yml" in result.stderr
    else:
        assert not summary.exists() and "schedules are safe" in result.stderr
