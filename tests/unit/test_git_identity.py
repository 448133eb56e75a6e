"""Every path that writes a commit works on a runner with no git identity (GitHub's hosted runners have
none), and a configured identity always wins over the bot's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.adapters.git import BOT_EMAIL, BOT_NAME
from tests.helpers.project import ROOT

LAST = "print(subprocess.check_output(['git', 'log', '-1', '--format=%an <%ae> / %cn <%ce>', '{rev}'], text=True))"
# Each commit path of the package, run in a repository whose HEAD has data.txt.
PATHS = {
    "record.start (main.yml record)": (
        "from pipelines.adapters import record\n"
        "record.start('staging', None, 'HEAD', {'release.json': b'{}'}, 'Model of record x for staging')\n"
        + LAST.format(rev="promote/staging")
    ),
    "record.amend (build-image, promotion-gate --record)": (
        "from pipelines.adapters import record\n"
        "record.start('staging', None, 'HEAD', {'release.json': b'{}'}, 'Model of record x for staging')\n"
        "record.amend('staging', {'promotion.json': b'{}'}, 'Verdict')\n" + LAST.format(rev="promote/staging")
    ),
    "git.commit_tracked (retrain)": (
        "from pipelines.adapters import git\n"
        "open('data.txt', 'a').write('more\\n')\n"
        "git.commit_tracked('Retrain on new data')\n" + LAST.format(rev="HEAD")
    ),
    "git.restore_tree (rollback)": (
        "from pipelines.adapters import git\n"
        "first = git.text('rev-list', '--max-parents=0', 'HEAD')\n"
        "git.restore_tree(first, 'Roll back', '.')\n" + LAST.format(rev="HEAD")
    ),
}


def runner_env(home: Path) -> dict[str, str]:
    """What a GitHub-hosted runner's step sees of git: an empty HOME, no global or system config, no identity."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "EMAIL"))}
    env.update(HOME=str(home), GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1", PYTHONPATH=str(ROOT))
    return env


@pytest.fixture
def runner_repo(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    (tmp_path / "home").mkdir()
    env = runner_env(tmp_path / "home")
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True, env=env)
    (repo / "data.txt").write_text("rows\n")
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True, env=env)
    # the first commit is the user's, made with an identity given on the command line only
    subprocess.run(["git", "-c", "user.name=u", "-c", "user.email=u@example.invalid", "commit", "-qm", "first"],
                   cwd=repo, check=True, env=env)  # fmt: skip
    (repo / "data.txt").write_text("rows\nchanged\n")
    subprocess.run(["git", "-c", "user.name=u", "-c", "user.email=u@example.invalid", "commit", "-qam", "second"],
                   cwd=repo, check=True, env=env)  # fmt: skip
    return repo, env


def _run(code: str, repo: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "import subprocess\n" + code], cwd=repo, env=env,
                          capture_output=True, text=True, check=False)  # fmt: skip


@pytest.mark.parametrize("path", list(PATHS))
def test_a_commit_path_commits_as_the_bot_on_a_runner_without_an_identity(
    path: str, runner_repo: tuple[Path, dict[str, str]]
) -> None:
    repo, env = runner_repo
    assert subprocess.run(["git", "config", "user.email"], cwd=repo, env=env, capture_output=True).stdout == b""
    result = _run(PATHS[path], repo, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{BOT_NAME} <{BOT_EMAIL}> / {BOT_NAME} <{BOT_EMAIL}>"


@pytest.mark.parametrize("how", ["repository config", "environment"])
def test_a_configured_identity_wins_over_the_bot(how: str, runner_repo: tuple[Path, dict[str, str]]) -> None:
    repo, env = runner_repo
    if how == "repository config":
        subprocess.run(["git", "config", "user.name", "Ada"], cwd=repo, check=True, env=env)
        subprocess.run(["git", "config", "user.email", "ada@example.invalid"], cwd=repo, check=True, env=env)
    else:
        env = {**env, "GIT_AUTHOR_NAME": "Ada", "GIT_AUTHOR_EMAIL": "ada@example.invalid",
               "GIT_COMMITTER_NAME": "Ada", "GIT_COMMITTER_EMAIL": "ada@example.invalid"}  # fmt: skip
    result = _run(PATHS["git.commit_tracked (retrain)"], repo, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Ada <ada@example.invalid> / Ada <ada@example.invalid>"
