"""retrain.yml under act: no source, a new batch (branch and pull request), the same batch again, and a batch
that breaks the contract (the run fails and the batch's report is uploaded)."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.helpers.project import forbidden_cell, noisy_sample, read_project_data
from tests.runner.sandbox import Sandbox

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("test_retrain")]  # one sandbox, in order


def _dispatch(sandbox: Sandbox):  # type: ignore[no-untyped-def]
    main = sandbox.origin_sha("main") or ""
    return sandbox.run("workflow_dispatch", "retrain.yml", {"ref": "refs/heads/main", "inputs": {}}, main)


def _retrain_branches(sandbox: Sandbox) -> list[str]:
    return [r for r in sandbox.origin_git("for-each-ref", "--format=%(refname:short)", "refs/heads/").split()
            if r.startswith("retrain/")]  # fmt: skip


def test_with_no_source_the_run_is_green_and_says_so(sandbox: Sandbox) -> None:
    run = _dispatch(sandbox)
    run.expect(retrain="success")
    job = run.job("retrain")
    assert "Retraining skipped: no source configured" in job.summary
    assert any(level == "notice" for level, _ in job.annotations) and not _retrain_branches(sandbox)


def test_a_new_batch_opens_one_pull_request_and_the_same_batch_again_changes_nothing(sandbox: Sandbox) -> None:
    source, remote = sandbox.root / "incoming", sandbox.root / "dvc-remote"
    source.mkdir()
    remote.mkdir()
    sandbox.checkout("origin/main")
    sandbox.git("checkout", "--quiet", "-B", "main")
    params = yaml.safe_load((sandbox.work / "params.yaml").read_text())
    params["ingest"]["source"] = f"{source}/*.csv"
    (sandbox.work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    sandbox.sh("dvc", "remote", "add", "-d", "storage", str(remote))
    sandbox.sh("python", "-m", "pipelines", "bootstrap")
    sandbox.sh("dvc", "push")
    sandbox.git("commit", "--quiet", "-am", "Fresh data from incoming/, a DVC remote")
    sandbox.git("push", "--quiet", "origin", "main")
    noisy_sample(read_project_data(), 60, seed=5).to_csv(source / "week-1.csv", index=False)

    run = _dispatch(sandbox)
    run.expect(retrain="success")
    (branch,) = _retrain_branches(sandbox)
    (pull,) = sandbox.github.state.open_pulls()
    assert (pull["head"]["ref"], pull["base"]["ref"]) == (branch, "main") and "Retrain on new data" in pull["title"]
    assert "data.dvc" in sandbox.origin_git("diff", "--name-only", "main", branch).split()
    author = sandbox.origin_git("log", "-1", "--format=%ae", branch)
    assert author == "41898282+github-actions[bot]@users.noreply.github.com"

    sandbox.merge_pull(pull["number"])
    again = _dispatch(sandbox)
    again.expect(retrain="success")
    assert "Nothing to do" in again.job("retrain").summary
    assert _retrain_branches(sandbox) == [branch] and not sandbox.github.state.open_pulls()


def test_a_batch_that_breaks_the_contract_fails_the_run_and_its_report_is_uploaded(sandbox: Sandbox) -> None:
    bad = noisy_sample(read_project_data(), 40, seed=9)
    column, value = forbidden_cell()
    bad = bad.astype({column: object})
    bad.loc[3, column] = value
    bad.to_csv(sandbox.root / "incoming" / "week-2.csv", index=False)
    run = _dispatch(sandbox)
    run.expect(retrain="failure")
    job = run.job("retrain")
    assert "### Refused batches" in job.summary and column in job.summary
    assert any(level == "error" and "broke the data contract" in text for level, text in job.annotations)
    (report,) = sandbox.artifact(run, "refused-batches").glob("*.json")
    assert json.loads(report.read_text())["source"].endswith("week-2.csv")
    assert not sandbox.artifact(run, "refused-batches").joinpath("data.csv").exists()  # the rows stay on the runner
