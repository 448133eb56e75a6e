"""A project made from someone else's table (`init`), and a DVC remote added to it after the data: main.yml
fails with one line that names `dvc push`, not credentials; after `dvc push` the same merge promotes."""

from __future__ import annotations

import pytest

from tests.runner.sandbox import Sandbox, push_event

# init runs on the pristine template only (a project already made from it has its own data)
pytestmark = [pytest.mark.slow, pytest.mark.example, pytest.mark.xdist_group("test_fresh_remote")]


def test_a_remote_added_after_the_data_names_dvc_push_and_after_it_the_merge_promotes(sandbox: Sandbox) -> None:
    sandbox.checkout("origin/main")
    sandbox.git("checkout", "--quiet", "-B", "main")
    table = sandbox.root / "churn.csv"
    sandbox.sh("python", "-m", "tests.tables", "imbalanced", str(table))
    sandbox.sh("python", "-m", "pipelines", "init", "--dataset", str(table), "--target", "churned", "--name", "churn")
    sandbox.sh("dvc", "repro")
    sandbox.git("add", "-A")
    sandbox.git("commit", "--quiet", "-m", "Our churn table")
    remote = sandbox.root / "dvc-remote"
    remote.mkdir()
    sandbox.sh("dvc", "remote", "add", "-d", "storage", str(remote))
    sandbox.git("commit", "--quiet", "-am", "Switch the DVC remote on (nothing pushed yet)")
    before = sandbox.origin_sha("main") or ""
    sandbox.git("push", "--quiet", "origin", "main")
    after = sandbox.sha("HEAD")

    run = sandbox.run("push", "main.yml", push_event(before, after), after)
    failed = {name: job.result for name, job in run.jobs.items()}
    assert failed.get("tests") == "failure" and failed.get("record") in (None, "skipped", "failure"), failed
    (line,) = [text for text in run.job("tests").log.splitlines() if text.startswith("error:")]
    assert "`dvc push`" in line and "never pushed" in line and "credentials" not in line, line
    assert sandbox.origin_sha("promote/staging") is None

    sandbox.sh("dvc", "push")  # what the line says, from the user's copy that has the data
    again = sandbox.run("push", "main.yml", push_event(before, after), after)
    again.expect(tests="success", record="success")
    assert again.job("record").outputs.get("stored") == "true"
    assert sandbox.origin_sha("promote/staging") is not None
