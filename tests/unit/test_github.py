"""Fork-safe commenting and branch protection: untrusted artifacts are checked before anything is posted."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from pipelines.adapters.github import GitHubError, post_report, protection_calls, sanitise

SHA = "0123456789abcdef0123456789abcdef01234567"


class FakeGitHub:
    """Stands in for the GitHub REST API: serves pull requests, records writes."""

    def __init__(self, pulls: dict[int, str]):
        self.pulls, self.puts = pulls, []

    def get(self, path: str) -> Any:
        number = int(path.rsplit("/", 1)[1])
        if number not in self.pulls:
            raise GitHubError("404")
        return {"number": number, "head": {"sha": self.pulls[number]}}

    def put(self, path: str, payload: Any) -> Any:
        self.puts.append((path, payload))


class FakeCommenter:
    def __init__(self) -> None:
        self.posted: list[tuple[int, str]] = []

    def update(self, pr_number: int, markdown_file: Path) -> None:
        self.posted.append((pr_number, markdown_file.read_text()))


def _artifact(tmp_path: Path, report: str = "## report\n", claim: Any = None) -> Path:
    art = tmp_path / "artifact"
    art.mkdir()
    (art / "report.md").write_text(report)
    (art / "pr.json").write_text(json.dumps({"number": 7, "head_sha": SHA} if claim is None else claim))
    return art


def _post(tmp_path: Path, art: Path, pulls: dict[int, str] | None = None) -> FakeCommenter:
    commenter = FakeCommenter()
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    post_report(art, repo="o/r", head_sha=SHA, github=FakeGitHub(pulls or {7: SHA}), commenter=commenter, workdir=work)
    return commenter


def test_a_valid_artifact_is_posted_on_its_pull_request(tmp_path: Path) -> None:
    assert _post(tmp_path, _artifact(tmp_path)).posted == [(7, "## report\n")]


def test_a_claimed_pr_whose_head_is_another_commit_is_refused(tmp_path: Path) -> None:
    with pytest.raises(GitHubError, match="is not at"):
        _post(tmp_path, _artifact(tmp_path), pulls={7: "f" * 40})


def test_a_head_sha_that_differs_from_the_trusted_run_is_refused(tmp_path: Path) -> None:
    with pytest.raises(GitHubError, match="does not match"):
        _post(tmp_path, _artifact(tmp_path, claim={"number": 7, "head_sha": "e" * 40}))


@pytest.mark.parametrize("claim", [{"number": "7; rm -rf /"}, {"number": -1}, {"number": True}, [], {"head_sha": SHA}])
def test_a_malformed_pr_number_is_refused(tmp_path: Path, claim: Any) -> None:
    if isinstance(claim, dict):
        claim = {"head_sha": SHA, **claim}
    with pytest.raises(GitHubError, match="no valid pull request number"):
        _post(tmp_path, _artifact(tmp_path, claim=claim))


def test_oversized_or_symlinked_files_are_refused(tmp_path: Path) -> None:
    art = _artifact(tmp_path, report="x" * 300_000)
    with pytest.raises(GitHubError, match="the limit is"):
        _post(tmp_path, art)
    (art / "report.md").unlink()
    os.symlink("/etc/hostname", art / "report.md")
    with pytest.raises(GitHubError, match="not a regular file"):
        _post(tmp_path, art)


def test_local_images_are_removed_so_cml_cannot_upload_runner_files() -> None:
    text = sanitise('a ![secrets](/proc/self/environ) b <img src="../../.git/config"> c ![ok](https://x.test/p.png)')
    assert "/proc" not in text and ".git/config" not in text
    assert "![ok](https://x.test/p.png)" in text


def test_protection_settings_become_one_put_per_branch(tmp_path: Path) -> None:
    calls = protection_calls({"branches": {"main": {"required_checks": ["ml-gate"], "required_approvals": 1}}}, "o/r")
    ((path, payload),) = calls
    assert path == "repos/o/r/branches/main/protection"
    assert payload["required_status_checks"] == {"strict": True, "contexts": ["ml-gate"]}
    assert payload["required_pull_request_reviews"]["required_approving_review_count"] == 1
    with pytest.raises(GitHubError, match="invalid repository"):
        protection_calls({"branches": {"main": {}}}, "not a repo")


def test_environment_reviewers_are_resolved_to_ids_through_the_api() -> None:
    from pipelines.adapters.github import environment_calls, reviewer_resolver

    class Users(FakeGitHub):
        def get(self, path: str) -> Any:
            return {"users/alice": {"id": 11}, "orgs/acme/teams/ml-leads": {"id": 22}}[path]

    settings = {"environments": {"production": {"reviewers": ["alice", "acme/ml-leads"], "prevent_self_review": True}}}
    ((path, payload),) = environment_calls(settings, "acme/churn", reviewer_resolver(Users({})))
    assert path == "repos/acme/churn/environments/production"
    assert payload["reviewers"] == [{"type": "User", "id": 11}, {"type": "Team", "id": 22}]
    assert payload["prevent_self_review"] is True


class Issues(FakeGitHub):
    """Issues and workflow dispatches, in memory."""

    def __init__(self) -> None:
        super().__init__({})
        self.issues: dict[int, dict] = {}
        self.posts: list[tuple[str, Any]] = []

    def get(self, path: str) -> Any:
        return [{"number": n} for n, i in self.issues.items() if "drift" in i.get("labels", [])][:1]

    def post(self, path: str, payload: Any) -> Any:
        self.posts.append((path, payload))
        if path.endswith("/issues"):
            number = len(self.issues) + 1
            self.issues[number] = dict(payload)
            return {"number": number}
        return None

    def patch(self, path: str, payload: Any) -> Any:
        self.issues[int(path.rsplit("/", 1)[1])].update(payload)


def test_drift_keeps_one_issue_up_to_date_and_dispatches_retraining() -> None:
    from pipelines.adapters.github import dispatch_workflow, upsert_drift_issue

    github = Issues()
    assert upsert_drift_issue(github, "acme/churn", "Input drift: a", "report 1") == (1, True)
    assert upsert_drift_issue(github, "acme/churn", "Input drift: a, b", "report 2") == (1, False)
    assert list(github.issues) == [1] and github.issues[1]["body"] == "report 2"
    dispatch_workflow(github, "acme/churn", "retrain.yml", "main")
    assert github.posts[-1] == ("repos/acme/churn/actions/workflows/retrain.yml/dispatches", {"ref": "main"})


class AnswersWithout:
    """An API (a proxy's error page, a stand-in) that answers every call with `answer`."""

    def __init__(self, listing: Any, answer: Any):
        self.listing, self.answer = listing, answer

    def get(self, path: str) -> Any:
        return self.listing

    def post(self, path: str, payload: Any) -> Any:
        return self.answer

    def patch(self, path: str, payload: Any) -> Any:
        return self.answer


@pytest.mark.parametrize(
    ("listing", "answer", "named"),
    [
        ([], {"message": "Bad Gateway"}, "POST repos/acme/churn/pulls (promote/staging -> staging)"),
        ([], "<html>502</html>", "POST repos/acme/churn/pulls"),
        ([{"title": "no number"}], None, "GET repos/acme/churn/pulls"),
        ({"message": "Not Found"}, None, "GET repos/acme/churn/pulls"),
    ],
)
def test_an_answer_without_a_number_is_one_line_naming_the_request(listing: Any, answer: Any, named: str) -> None:
    from pipelines.adapters.github import upsert_pull_request

    with pytest.raises(GitHubError) as caught:
        upsert_pull_request(AnswersWithout(listing, answer), "acme/churn", "promote/staging", "staging", "t", "b")  # type: ignore[arg-type]
    assert named in str(caught.value) and "\n" not in str(caught.value)


def test_an_issue_answer_without_a_number_is_one_line() -> None:
    from pipelines.adapters.github import upsert_drift_issue

    with pytest.raises(GitHubError, match="POST repos/acme/churn/issues: the answer has no"):
        upsert_drift_issue(AnswersWithout([], {"message": "Server Error"}), "acme/churn", "t", "b")  # type: ignore[arg-type]


def test_the_local_mlflow_store_and_its_journal_are_ignored() -> None:
    """`git add -A` right after `dvc repro` must not commit sqlite's journal beside the store."""
    import subprocess

    from tests.helpers.project import ROOT

    for name in ("mlflow.db", "mlflow.db-journal"):
        ignored = subprocess.run(["git", "check-ignore", "-q", name], cwd=ROOT, check=False)
        assert ignored.returncode == 0, f"{name} is not ignored by .gitignore"
