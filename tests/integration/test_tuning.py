"""`tune` end to end in a copy of the project with a bare origin: a deliberately poor committed value is replaced
in params.yaml (comments kept), the pipeline re-run and a tune/<date> branch pushed; run again on that branch, the
committed values hold and nothing is pushed."""

from __future__ import annotations

import pytest
import yaml

from pipelines.adapters.params import write_section_values
from tests.helpers.project import Repo

pytestmark = pytest.mark.example  # a forest on the bundled example (a fork's estimator and table are its own)


def _tune_branches(repo: Repo) -> list[str]:
    listed = repo.git("ls-remote", "--heads", "origin").stdout.split()
    return sorted(ref.removeprefix("refs/heads/") for ref in listed if ref.startswith("refs/heads/tune/"))


def test_tune_proposes_values_that_win_in_a_branch_and_nothing_when_the_committed_ones_hold(repo_copy: Repo) -> None:
    params = repo_copy.path / "params.yaml"
    write_section_values(params, ("train",), {"estimator": "random_forest"})
    write_section_values(params, ("train", "random_forest"), {"n_estimators": 30, "min_samples_leaf": 200})
    write_section_values(params, ("tune",), {"trials": 5})
    comments = [line for line in params.read_text().splitlines() if line.lstrip().startswith("#")]
    repo_copy.dvc("repro")
    repo_copy.git("commit", "-qam", "a forest whose leaves need 200 of 455 rows")
    repo_copy.git("push", "-q", "origin", "main")

    first = repo_copy.pipelines("tune", "--apply", "--push", "--no-track")
    assert "[tune] trial 4/4" in first.stderr and "beats the committed values" in first.stderr, first.stderr
    (branch,) = _tune_branches(repo_copy)
    tuned = yaml.safe_load(repo_copy.git("show", f"origin/{branch}:params.yaml").stdout)["train"]["random_forest"]
    assert tuned["min_samples_leaf"] <= 20  # within the declared space, no longer the poor 200
    assert [line for line in params.read_text().splitlines() if line.lstrip().startswith("#")] == comments
    changed = repo_copy.git("diff", "--name-only", "main", f"origin/{branch}").stdout.split()
    assert {"params.yaml", "dvc.lock", "metrics.json"} <= set(changed)
    assert "nothing to commit" in repo_copy.git("status").stdout  # dvc repro's outputs went into the commit

    again = repo_copy.pipelines("tune", "--apply", "--push", "--no-track")
    assert "nothing to propose" in again.stderr and _tune_branches(repo_copy) == [branch]
