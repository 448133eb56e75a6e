"""tune.yml under act: a deliberately poor committed value gets one tune/<date> branch and pull request (and,
without a GitHub App token, the summary says its checks must be started by hand); once merged, the next run finds
the committed values within the folds' spread of the best and opens nothing."""

from __future__ import annotations

import pytest

from pipelines.adapters.params import write_section_values
from tests.runner.sandbox import Sandbox

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("test_tune")]  # one sandbox, in order


def _dispatch(sandbox: Sandbox):  # type: ignore[no-untyped-def]
    main = sandbox.origin_sha("main") or ""
    return sandbox.run("workflow_dispatch", "tune.yml", {"ref": "refs/heads/main", "inputs": {}}, main)


def _tune_branches(sandbox: Sandbox) -> list[str]:
    return [r for r in sandbox.origin_git("for-each-ref", "--format=%(refname:short)", "refs/heads/").split()
            if r.startswith("tune/")]  # fmt: skip


def test_a_poor_value_opens_one_pull_request_and_once_merged_the_next_run_opens_none(sandbox: Sandbox) -> None:
    sandbox.checkout("origin/main")
    sandbox.git("checkout", "--quiet", "-B", "main")
    params = sandbox.work / "params.yaml"
    write_section_values(params, ("train",), {"estimator": "random_forest"})
    write_section_values(params, ("train", "random_forest"), {"n_estimators": 30, "min_samples_leaf": 200})
    write_section_values(params, ("tune",), {"trials": 4})
    sandbox.sh("dvc", "repro", "--quiet")
    sandbox.git("commit", "--quiet", "-am", "A forest whose leaves need 200 rows")
    sandbox.git("push", "--quiet", "origin", "main")

    run = _dispatch(sandbox)
    run.expect(tune="success")
    job = run.job("tune")
    (branch,) = _tune_branches(sandbox)
    (pull,) = sandbox.github.state.open_pulls()
    assert (pull["head"]["ref"], pull["base"]["ref"]) == (branch, "main") and pull["title"].startswith("Tune random")
    assert pull["body"].startswith("### Tuning `random_forest`") and "## " in pull["body"]  # the gate's report too
    assert "params.yaml" in sandbox.origin_git("diff", "--name-only", "main", branch).split()
    assert "start the pull-request workflow by hand" in job.summary
    assert any(level == "warning" and "by hand" in text for level, text in job.annotations)
    assert sandbox.artifact(run, "tuning").joinpath("tuning.json").exists()

    sandbox.merge_pull(pull["number"])
    again = _dispatch(sandbox)
    again.expect(tune="success")
    assert "nothing to propose" in again.job("tune").summary
    assert _tune_branches(sandbox) == [branch] and not sandbox.github.state.open_pulls()
