"""pull-request.yml and pull-request-comment.yml under act: the gate's verdicts, a fork's pull request, and one
report comment for the head it was made for."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pipelines.core.tasks import TASK_SPECS
from tests.helpers.project import CONTRACT, cripple
from tests.runner.sandbox import Run, Sandbox, pull_request_event

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("test_pull_request")]  # one sandbox, in order


def _branch(sandbox: Sandbox, name: str, edit: Any, message: str, repro: bool = True, base: str = "main") -> str:
    """The user's branch off `base`: `edit(sandbox)`, `make data` and `dvc repro` (unless not), committed, pushed."""
    sandbox.checkout(f"origin/{base}")
    sandbox.git("checkout", "--quiet", "-B", name)
    edit(sandbox)
    if repro:
        sandbox.sh("python", "-m", "pipelines", "bootstrap")
        sandbox.sh("dvc", "repro")
    sandbox.git("add", "-A")
    sandbox.git("commit", "--quiet", "-m", message)
    sandbox.git("push", "--quiet", "--force", "origin", f"{name}:refs/heads/{name}")
    return sandbox.sha("HEAD")


def _open(sandbox: Sandbox, branch: str) -> int:
    """A person opens the pull request branch -> main (on GitHub's page: it starts pull-request.yml)."""
    state = sandbox.github.state
    number = state.next_number()
    state.pulls[number] = {"number": number, "state": "open", "title": branch, "body": "", "head": {"ref": branch},
                           "base": {"ref": "main"}, "created_with": "a person"}  # fmt: skip
    return number


def _check(sandbox: Sandbox, number: int, fork: bool = False) -> Run:
    pull = sandbox.github.state.pulls[number]
    head, base = sandbox.origin_sha(pull["head"]["ref"]) or "", sandbox.origin_sha("main") or ""
    event = pull_request_event(number, pull["head"]["ref"], head, "main", base)
    if fork:  # a fork's pull request: no secrets, no variables; the head lives in another repository
        event["pull_request"]["head"]["repo"] = {"full_name": "mallory/churn", "fork": True}
    return sandbox.run("pull_request", "pull-request.yml", event, sandbox.pull_merge_commit(number))


def _gate_lines(run: Run) -> list[str]:
    return [line for line in run.job("pipeline").log.splitlines() if line.startswith("[gate] FAIL")]


def test_a_worse_model_fails_naming_the_rules_and_a_forks_pull_request_gets_the_same_verdict(sandbox: Sandbox) -> None:
    _branch(sandbox, "worse", lambda s: cripple(s.user_repo()), "A model that has learnt next to nothing")
    number = _open(sandbox, "worse")
    run = _check(sandbox, number)
    run.expect(pipeline="failure", tests="success", **{"ml-gate": "failure"})
    reasons = _gate_lines(run)
    gated = TASK_SPECS[CONTRACT.task].gated
    assert reasons and any(m in line for m in gated for line in reasons), run.job("pipeline").log[-3000:]
    assert sandbox.artifact(run, "pr-report").joinpath("report.md").exists()  # uploaded although the gate failed

    fork = _check(sandbox, number, fork=True)
    fork.expect(pipeline="failure", tests="success", **{"ml-gate": "failure"})
    assert _gate_lines(fork) == reasons


def test_a_better_model_passes_and_its_report_is_posted_once_for_its_head(sandbox: Sandbox) -> None:
    """main holds a crippled model (merged by mistake); the branch that restores the real one passes, and the
    comment workflow posts exactly one report, for the head the report was made for."""
    sandbox.checkout("origin/main")
    sandbox.git("checkout", "--quiet", "-B", "main")
    real_params = (sandbox.work / "params.yaml").read_text()
    cripple(sandbox.user_repo())
    sandbox.sh("python", "-m", "pipelines", "bootstrap")
    sandbox.sh("dvc", "repro")
    sandbox.git("commit", "--quiet", "-am", "A crippled model reached main")
    sandbox.git("push", "--quiet", "origin", "main")

    head = _branch(sandbox, "better", lambda s: (s.work / "params.yaml").write_text(real_params), "Restore the model")
    number = _open(sandbox, "better")
    run = _check(sandbox, number)
    run.expect(pipeline="success", tests="success", **{"ml-gate": "success"})
    report = sandbox.artifact(run, "pr-report")
    assert json.loads((report / "pr.json").read_text())["number"] == number

    def comment(head_sha: str) -> Run:
        payload = {"workflow_run": {"id": int(run.run_id), "event": "pull_request", "conclusion": "success",
                                    "head_sha": head_sha, "name": "pull-request"}}  # fmt: skip
        return sandbox.run("workflow_run", "pull-request-comment.yml", payload, "origin/main")

    for _ in range(2):  # a re-run updates the one comment
        comment(head).expect(comment="success")
    (posted,) = sandbox.github.state.comments[number]
    assert "gitops-ml report" in posted["body"]
    assert [c["args"][:2] for c in sandbox.stand_in_calls("npm")][-1] == ["install", "--global"]

    stale_head = sandbox.git("rev-parse", "HEAD~1").stdout.strip()  # a run for a head the PR is no longer at
    comment(stale_head).expect(comment="failure")
    assert len(sandbox.github.state.comments[number]) == 1


def test_a_docs_only_change_skips_training_and_passes(sandbox: Sandbox) -> None:
    def edit(s: Sandbox) -> None:
        (s.work / "docs" / "FORKING.md").write_text((s.work / "docs" / "FORKING.md").read_text() + "\nA note.\n")

    _branch(sandbox, "docs", edit, "docs: a note", repro=False)
    run = _check(sandbox, _open(sandbox, "docs"))
    run.expect(pipeline="success", tests="success", **{"ml-gate": "success"})
    pipeline = run.job("pipeline")
    assert pipeline.outputs.get("pipeline") == "false" and "Running stage" not in pipeline.log


def test_a_stale_dvc_lock_fails_with_the_command_to_run(sandbox: Sandbox) -> None:
    from tests.helpers.project import knob

    key, value = knob()
    _branch(
        sandbox, "stale", lambda s: s.user_repo().set_param(key, value), f"Change {key}, forget dvc repro", repro=False
    )
    run = _check(sandbox, _open(sandbox, "stale"))
    run.expect(pipeline="failure", tests="success", **{"ml-gate": "failure"})
    log = run.job("pipeline").log
    assert "dvc repro" in log and "train" in log, log[-3000:]
