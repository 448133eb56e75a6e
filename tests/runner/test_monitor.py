"""monitor.yml under act: no log location is a visible warning; logs the real service wrote into a bucket (moto's
S3 server) give a verdict; drift opens one issue and a second run updates it; an old default branch warns
before GitHub stops the schedules."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import yaml

from tests.helpers.project import FEATURES, Repo, read_project_data
from tests.helpers.service import Server, json_rows
from tests.runner.sandbox import Run, Sandbox

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("test_monitor")]  # one sandbox, in order

SECRETS = {"MONITOR_AWS_ACCESS_KEY_ID": "team-access-key", "MONITOR_AWS_SECRET_ACCESS_KEY": "team-secret-key"}


@pytest.fixture(scope="module")
def s3() -> Iterator[object]:
    from tests.stack import S3

    server = S3()
    yield server
    server.stop()


def _schedule(sandbox: Sandbox, **env: str) -> Run:
    main = sandbox.origin_sha("main") or ""
    return sandbox.run("schedule", "monitor.yml", {"schedule": "41 5 * * *"}, main, secrets=SECRETS, env=env)


def test_no_log_location_is_a_visible_warning_and_the_schedules_are_safe(sandbox: Sandbox) -> None:
    run = _schedule(sandbox)
    run.expect(monitor="success")
    job = run.job("monitor")
    assert any(level == "warning" and "monitor.logs is null" in text for level, text in job.annotations)
    assert "no prediction-log location is configured" in job.summary
    assert job.outputs.get("alert") == "false" and not sandbox.github.state.issues
    assert "schedules are safe" in job.log


def test_logs_the_service_wrote_to_a_bucket_give_a_verdict_and_drift_opens_one_issue(sandbox: Sandbox, s3) -> None:  # type: ignore[no-untyped-def]
    from tests.stack import BUCKET, KEYS

    logs = f"s3://{BUCKET}/predictions/production"
    sandbox.checkout("origin/main")
    sandbox.git("checkout", "--quiet", "-B", "main")
    params = yaml.safe_load((sandbox.work / "params.yaml").read_text())
    params["monitor"]["logs"] = logs
    (sandbox.work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    sandbox.git("commit", "--quiet", "-am", "Monitor the production service's prediction logs")
    sandbox.git("push", "--quiet", "origin", "main")

    # the service, as production runs it, answers traffic whose first numeric input has moved
    sandbox.sh("python", "-m", "pipelines", "bootstrap")
    sandbox.sh("dvc", "repro")
    frame = read_project_data(sandbox.work)
    moved = next(name for name in FEATURES if frame[name].dtype.kind == "f")
    live = frame[FEATURES].sample(400, replace=True, random_state=3).reset_index(drop=True)
    live[moved] = live[moved] + 3 * frame[moved].std()
    env = {**sandbox.user_env(), **KEYS, "FSSPEC_S3_ENDPOINT_URL": s3.url}
    server = Server(Repo(sandbox.work, env), "--log-dir", logs)
    try:
        server.wait_ready()
        import urllib.request

        rows = json_rows(live)
        for start in range(0, len(rows), 50):
            body = json.dumps({"instances": rows[start : start + 50]}).encode()
            request = urllib.request.Request(f"{server.url}/invocations", body, {"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=30) as answer:
                assert answer.status == 200
    finally:
        server.stop()  # the log is written out to the bucket

    endpoint = {"FSSPEC_S3_ENDPOINT_URL": s3.url, "AWS_DEFAULT_REGION": KEYS["AWS_DEFAULT_REGION"]}
    first = _schedule(sandbox, **endpoint)
    first.expect(monitor="success")
    job = first.job("monitor")
    assert job.outputs.get("drift") == "true", job.log[-3000:]
    (issue,) = sandbox.github.state.issues.values()
    assert moved in issue["title"] and issue["labels"] == [{"name": "drift"}]
    assert sandbox.github.state.dispatches == [{"workflow": "retrain.yml", "ref": "main"}]

    second = _schedule(sandbox, **endpoint)
    second.expect(monitor="success")
    assert list(sandbox.github.state.issues) == [issue["number"]]  # updated, not a second one
    assert len(sandbox.github.calls("PATCH", f"/issues/{issue['number']}")) == 1


def test_a_default_branch_without_commits_for_45_days_warns_and_re_enables_the_schedules(sandbox: Sandbox) -> None:
    sandbox.checkout("origin/main")
    sandbox.git("checkout", "--quiet", "-B", "main")
    params = yaml.safe_load((sandbox.work / "params.yaml").read_text())
    params["monitor"]["logs"] = None
    (sandbox.work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    when = f"@{int(time.time() - 50 * 86400)} +0000"
    who = [f"GIT_{role}_{key}" for role in ("AUTHOR", "COMMITTER") for key in ("NAME=Ada", f"DATE={when}")]
    who += ["GIT_AUTHOR_EMAIL=ada@example.invalid", "GIT_COMMITTER_EMAIL=ada@example.invalid"]
    sandbox.sh("env", *who, "git", "commit", "--quiet", "-am", "The last commit")
    sandbox.git("push", "--quiet", "origin", "main")
    run = _schedule(sandbox)
    run.expect(monitor="success")
    job = run.job("monitor")
    assert "no commit for 50 days" in job.summary
    (issue,) = [i for i in sandbox.github.state.issues.values() if i["labels"] == [{"name": "schedules"}]]
    assert "monitor.yml, retrain.yml, tune.yml" in issue["body"]
    assert sorted(sandbox.github.state.enabled) == ["monitor.yml", "retrain.yml", "tune.yml"]
