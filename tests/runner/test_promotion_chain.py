"""Merge to main -> the model of record -> promotion pull request -> deploy staging -> production; a second
release; a rollback. The workflow files under act, as GitHub's runner would run them."""

from __future__ import annotations

import json

import pytest

from tests.runner.sandbox import APP_TOKEN, REPOSITORY, TOKEN, Sandbox, pull_request_event, push_event

pytestmark = pytest.mark.slow


def _merge(sandbox: Sandbox, message: str, change: dict[str, str] | None = None) -> tuple[str, str]:
    """The user merges into main (a commit pushed to origin's main); (before, after)."""
    sandbox.git("checkout", "--quiet", "-B", "main", "origin/main")
    before = sandbox.sha("HEAD")
    for path, text in (change or {}).items():
        (sandbox.work / path).write_text(text)
    sandbox.git("add", "-A")
    sandbox.git("commit", "--quiet", "--allow-empty", "-m", message)
    sandbox.git("push", "--quiet", "origin", "main")
    return before, sandbox.sha("HEAD")


def test_a_merge_without_a_dvc_remote_warns_and_promotes_nothing(sandbox: Sandbox) -> None:
    before, after = _merge(sandbox, "docs: a merge with no remote configured")
    run = sandbox.run("push", "main.yml", push_event(before, after), after)
    run.expect(tests="success", record="success")
    record = run.job("record")
    assert record.outputs.get("stored") == "false"
    assert any(level == "warning" and "no DVC remote is configured" in text for level, text in record.annotations)
    assert sandbox.origin_sha("promote/staging") is None and not sandbox.github.calls("POST", "/pulls")


def test_a_merge_with_a_remote_pushes_the_record_and_opens_one_promotion_pull_request(sandbox: Sandbox) -> None:
    """The issue's "done when": under act with an empty HOME and no git config, record pushes promote/staging."""
    remote = sandbox.root / "dvc-remote"
    remote.mkdir()
    sandbox.git("checkout", "--quiet", "-B", "main", "origin/main")
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
