"""Merge to main -> the model of record -> promotion pull request -> deploy staging -> production; a second
release; a rollback. The workflow files under act, as GitHub's runner would run them."""

from __future__ import annotations

import json

import pytest

from tests.runner.sandbox import APP_TOKEN, REPOSITORY, TOKEN, Sandbox, pull_request_event, push_event

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("test_promotion_chain")]  # one sandbox, in order


def _merge(sandbox: Sandbox, message: str, change: dict[str, str] | None = None) -> tuple[str, str]:
    """The user merges into main (a commit pushed to origin's main), with the edits their work tree holds;
    (before, after)."""
    sandbox.git("fetch", "--quiet", "origin", "+refs/heads/*:refs/remotes/origin/*")
    sandbox.git("checkout", "--quiet", "-B", "main", "origin/main")  # carries the uncommitted edits along
    before = sandbox.sha("HEAD")
    for path, text in (change or {}).items():
        (sandbox.work / path).write_text(text)
    sandbox.git("add", "-A")
    sandbox.git("commit", "--quiet", "--allow-empty", "-m", message)
    sandbox.git("push", "--quiet", "origin", "main")
    return before, sandbox.sha("HEAD")


def test_an_environment_branch_with_no_release_needs_no_registry_login_to_say_so(sandbox: Sandbox) -> None:
    staging = sandbox.origin_sha("staging") or ""
    run = sandbox.run("push", "deploy.yml", push_event(staging, staging, "staging"), staging)
    run.expect(deploy="success")
    job = run.job("deploy")
    assert job.outputs.get("release") == "false" and "nothing to deploy" in job.log
    assert not sandbox.stand_in_calls("docker-login")
    assert not [s for s, result in job.steps.items() if "Verify the release" in s and result != "skipped"]


def test_a_merge_without_a_dvc_remote_warns_and_promotes_nothing(sandbox: Sandbox) -> None:
    before, after = _merge(sandbox, "docs: a merge with no remote configured")
    run = sandbox.run("push", "main.yml", push_event(before, after), after)
    run.expect(tests="success", record="success")
    for job in run.jobs.values():  # the runner reuses the suite's environment: `make install` syncs nothing
        assert "is in sync with uv.lock (nothing to do)" in job.log and "uv sync" not in job.log
    record = run.job("record")
    assert record.outputs.get("stored") == "false"
    assert any(level == "warning" and "no DVC remote is configured" in text for level, text in record.annotations)
    assert sandbox.origin_sha("promote/staging") is None and not sandbox.github.calls("POST", "/pulls")


def test_a_merge_with_a_remote_pushes_the_record_and_opens_one_promotion_pull_request(sandbox: Sandbox) -> None:
    """The issue's "done when": under act with an empty HOME and no git config, record pushes promote/staging."""
    remote = sandbox.root / "dvc-remote"
    remote.mkdir()
    sandbox.checkout("origin/main")
    sandbox.git("checkout", "--quiet", "-B", "main")
    sandbox.sh("dvc", "remote", "add", "-d", "storage", str(remote))
    before, after = _merge(sandbox, "Switch the DVC remote on")
    run = sandbox.run("push", "main.yml", push_event(before, after), after)
    run.expect(tests="success", record="success")
    record = run.job("record")
    assert record.outputs.get("stored") == "true", record.log[-3000:]
    head = sandbox.origin_sha("promote/staging")
    assert head is not None
    release = json.loads(sandbox.origin_show("promote/staging", "models/release.json") or "{}")
    assert release["image"].startswith(f"ghcr.io/{REPOSITORY}@sha256:") and release["source_commit"] == after
    assert json.loads(sandbox.origin_show("promote/staging", "models/promotion.json") or "{}")
    (pull,) = sandbox.github.state.open_pulls()
    assert (pull["head"]["ref"], pull["base"]["ref"]) == ("promote/staging", "staging")
    author = sandbox.origin_git("log", "-1", "--format=%an <%ae>", "promote/staging")
    assert author == "github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>"
    assert [c["registry"] for c in sandbox.stand_in_calls("docker-login")] == ["ghcr.io"]
    # opened with GITHUB_TOKEN: on GitHub no workflow runs on it; the docs say what to do about that
    assert pull["created_with"] == TOKEN
    operations = (sandbox.work / "docs" / "OPERATIONS.md").read_text()
    assert "PROMOTION_APP_ID" in operations and "GITHUB_TOKEN" in operations


APP = {"variables": {"PROMOTION_APP_ID": "12345"}, "secrets": {"PROMOTION_APP_PRIVATE_KEY": "-----BEGIN KEY-----"}}


def _pull(sandbox: Sandbox, head: str, base: str) -> dict:
    (pull,) = [p for p in sandbox.github.state.open_pulls() if (p["head"]["ref"], p["base"]["ref"]) == (head, base)]
    return pull


def test_with_the_app_token_the_promotion_pull_request_is_checked_merged_and_deployed_to_staging(
    sandbox: Sandbox,
) -> None:
    """Re-run main with the GitHub App configured: its pull request starts promotion-gate (it passes), a person
    merges it, and deploy.yml deploys exactly that model (fetched from the remote by hash, the image by
    digest, nothing retrained), then opens the production promotion pull request."""
    main = sandbox.origin_sha("main")
    assert main is not None
    run = sandbox.run("push", "main.yml", push_event(main, main), main, job="record", **APP)
    run.expect(tests="success", record="success")  # act runs what `record` needs too
    pull = _pull(sandbox, "promote/staging", "staging")
    assert pull["created_with"] == TOKEN  # it was opened before; the App's run updated it
    assert sandbox.github.calls("PATCH", f"/pulls/{pull['number']}")[-1]["token"] == APP_TOKEN

    merge = sandbox.pull_merge_commit(pull["number"])
    base = sandbox.origin_sha("staging") or ""
    event = pull_request_event(pull["number"], "promote/staging", sandbox.origin_sha("promote/staging") or "",
                               "staging", base)  # fmt: skip
    gate = sandbox.run("pull_request", "promotion-gate.yml", event, merge)
    gate.expect(**{"promotion-gate": "success"})

    record = json.loads(sandbox.origin_show("promote/staging", "models/release.json") or "{}")
    before, after = sandbox.merge_pull(pull["number"])
    deploy = sandbox.run("push", "deploy.yml", push_event(before, after, "staging"), after, **APP)
    deploy.expect(deploy="success")
    job = deploy.job("deploy")
    assert job.outputs.get("release") == "true"
    assert job.outputs.get("image") == record["image"] and job.outputs.get("model_hash") == record["model_hash"]
    assert "fetched from the DVC remote and verified" in job.log and "Running stage" not in job.log
    production = _pull(sandbox, "promote/production", "production")
    assert production["created_with"] == APP_TOKEN
    assert json.loads(sandbox.origin_show("promote/production", "models/release.json") or "{}") == record


def test_the_production_promotion_is_checked_merged_and_deployed(sandbox: Sandbox) -> None:
    pull = _pull(sandbox, "promote/production", "production")
    merge = sandbox.pull_merge_commit(pull["number"])
    event = pull_request_event(pull["number"], "promote/production", sandbox.origin_sha("promote/production") or "",
                               "production", sandbox.origin_sha("production") or "")  # fmt: skip
    sandbox.run("pull_request", "promotion-gate.yml", event, merge).expect(**{"promotion-gate": "success"})
    release = json.loads(sandbox.origin_show("promote/production", "models/release.json") or "{}")
    before, after = sandbox.merge_pull(pull["number"])
    deploy = sandbox.run("push", "deploy.yml", push_event(before, after, "production"), after, **APP)
    deploy.expect(deploy="success")
    assert deploy.job("deploy").outputs.get("image") == release["image"]
    assert "production is the last environment: nothing to promote to" in deploy.job("deploy").log


def test_a_second_release_reaches_staging_and_a_rollback_returns_it_to_the_first_by_digest(sandbox: Sandbox) -> None:
    from tests.helpers.project import nudge

    first = json.loads(sandbox.origin_show("staging", "models/release.json") or "{}")
    sandbox.checkout("origin/main")
    sandbox.git("checkout", "--quiet", "-B", "main")

    nudge(sandbox.user_repo())
    sandbox.sh("python", "-m", "pipelines", "bootstrap")
    sandbox.sh("dvc", "repro")
    before, after = _merge(sandbox, "A second model")
    sandbox.run("push", "main.yml", push_event(before, after), after, **APP).expect(tests="success", record="success")
    pull = _pull(sandbox, "promote/staging", "staging")
    assert pull["created_with"] == APP_TOKEN  # a new pull request (the first was merged): its checks would run
    second = json.loads(sandbox.origin_show("promote/staging", "models/release.json") or "{}")
    assert second["model_hash"] != first["model_hash"] and second["image"] != first["image"]
    before, after = sandbox.merge_pull(pull["number"])
    deployed = sandbox.run("push", "deploy.yml", push_event(before, after, "staging"), after, **APP)
    deployed.expect(deploy="success")
    assert deployed.job("deploy").outputs.get("image") == second["image"]

    main = sandbox.origin_sha("main") or ""
    rollback = sandbox.run("workflow_dispatch", "rollback.yml",
                           {"ref": "refs/heads/main", "inputs": {"environment": "staging", "version": ""}}, main,
                           **APP)  # fmt: skip
    rollback.expect(rollback="success")
    assert json.loads(sandbox.origin_show("staging", "models/release.json") or "{}") == first
    rolled = sandbox.origin_sha("staging") or ""
    assert sandbox.origin_git("log", "-1", "--format=%ae", "staging").endswith(
        "github-actions[bot]@users.noreply.github.com"
    )
    # pushed with the App's token, the revert starts the deploy: the first release, by its digest
    redeploy = sandbox.run("push", "deploy.yml", push_event(after, rolled, "staging"), rolled, **APP)
    redeploy.expect(deploy="success")
    assert redeploy.job("deploy").outputs.get("image") == first["image"]
    assert redeploy.job("deploy").outputs.get("model_hash") == first["model_hash"]
