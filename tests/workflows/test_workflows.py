"""The workflows: thin, pinned, least-privilege, and wired to commands that exist."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipelines.adapters.params import load_params
from pipelines.cli import commands
from tests.helpers import pins
from tests.helpers.project import ROOT

GITHUB = ROOT / ".github"
WORKFLOWS = sorted((GITHUB / "workflows").glob("*.yml"))
ACTIONS = sorted((GITHUB / "actions").glob("*/action.yml"))
PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
COMMANDS = set(commands())


def _load(path: Path) -> dict[str, Any]:
    # PyYAML reads the key `on` as True; put it back
    data = yaml.safe_load(path.read_text())
    if True in data:
        data["on"] = data.pop(True)
    return data


def _steps(doc: dict[str, Any]) -> list[dict[str, Any]]:
    steps = [s for job in doc.get("jobs", {}).values() for s in job.get("steps", [])]
    return steps + doc.get("runs", {}).get("steps", [])


def _make_targets() -> set[str]:
    return set(re.findall(r"^([a-zA-Z][\w-]*):", (ROOT / "Makefile").read_text(), re.MULTILINE))


def test_there_are_workflows_to_check() -> None:
    assert {p.name for p in WORKFLOWS} >= {"pull-request.yml", "pull-request-comment.yml"}
    assert ACTIONS


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda p: p.name)
def test_every_run_step_is_one_make_target_or_one_pipelines_command(path: Path) -> None:
    for step in _steps(_load(path)):
        run = step.get("run")
        if run is None:
            continue
        assert "\n" not in run.strip(), f"{step.get('name')}: one line per run step"
        assert "${{" not in run, f"{step.get('name')}: pass values through env:, not ${{{{ }}}} in run:"
        words = run.split()
        if words[0] == "make":
            assert words[1] in _make_targets(), f"make {words[1]} does not exist"
        elif words[:3] in (["python3", "-m", "pipelines.comment"], ["python3", "-m", "pipelines.checks"]):
            continue  # the stdlib-only entries: the trusted comment job, the aggregate required check
        else:
            assert words[:3] in (["python", "-m", "pipelines"], ["python3", "-m", "pipelines"]), run
            assert words[3] in COMMANDS, f"python -m pipelines {words[3]} does not exist"


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_full_sha_with_its_version(path: Path) -> None:
    lines = path.read_text().splitlines()
    for number, line in enumerate(lines):
        match = re.match(r"^\s*-?\s*uses:\s*(\S+)(.*)$", line)
        if not match:
            continue
        ref, rest = match.groups()
        if ref.startswith("./"):
            continue
        assert PIN.match(ref), f"{path.name}:{number + 1}: {ref} is not pinned to a commit SHA"
        assert re.search(r"#\s*v\d+\.\d+\.\d+", rest), f"{path.name}:{number + 1}: add the version as a comment"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_least_privilege_timeouts_concurrency_and_no_persisted_credentials(path: Path) -> None:
    """Every job declares its grants; where pull-request code runs there is no write grant and no secret."""
    doc = _load(path)
    assert doc.get("permissions") == {}, "top-level permissions: {} (grant per job)"
    assert "concurrency" in doc
    runs_pr_code = "pull_request" in doc["on"] or "pull_request_target" in doc["on"]
    assert "pull_request_target" not in doc["on"]
    for name, job in doc["jobs"].items():
        assert "permissions" in job, f"job {name} must declare its permissions"
        assert "timeout-minutes" in job, f"job {name} needs timeout-minutes"
        if runs_pr_code:
            assert "write" not in str(job["permissions"]), f"{name}: a write grant where PR code runs"
            assert "secrets." not in str(job), f"{name}: a secret where PR code runs"
        for step in job.get("steps", []):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                persisted = step.get("with", {}).get("persist-credentials")
                # credentials stay only in jobs that push (contents: write) and never run PR code
                pushes = job["permissions"].get("contents") == "write"
                assert persisted is False or (pushes and not runs_pr_code), name


def test_the_pull_request_workflow_always_reports_its_required_check() -> None:
    """No path filter at the trigger (a filtered-out required check would hang as 'expected')."""
    doc = _load(GITHUB / "workflows" / "pull-request.yml")
    trigger = doc["on"]["pull_request"]
    assert trigger["branches"] == ["main"] and "paths" not in trigger and "paths-ignore" not in trigger
    assert doc["concurrency"]["cancel-in-progress"] is True
    required = yaml.safe_load((GITHUB / "protection.yml").read_text())["branches"]["main"]["required_checks"]
    job_names = {job.get("name", key) for key, job in doc["jobs"].items()}
    assert set(required) <= job_names
    upload = next(s for s in _steps(doc) if "upload-artifact" in str(s.get("uses")))
    assert upload["if"].startswith("always()"), "a failing gate must still upload its report"


def test_pipeline_paths_cover_code_params_dvc_files_data_pointers_and_dependencies() -> None:
    patterns = load_params(ROOT / "params.yaml").ci.pipeline_paths
    for path in ("pipelines/train.py", "params.yaml", "dvc.yaml", "dvc.lock", "data.dvc", "pyproject.toml",
                 "uv.lock", ".github/workflows/pull-request.yml"):  # fmt: skip
        assert any(fnmatchcase(path, p) for p in patterns), path
    for path in ("README.md", "docs/ARCHITECTURE.md"):
        assert not any(fnmatchcase(path, p) for p in patterns), path


def test_the_comment_workflow_never_checks_out_or_runs_pull_request_code() -> None:
    doc = _load(GITHUB / "workflows" / "pull-request-comment.yml")
    assert list(doc["on"]) == ["workflow_run"]
    steps = _steps(doc)
    for step in steps:
        assert "ref" not in step.get("with", {}), "checkout must stay on the default branch"
        assert "./.github/actions" not in str(step.get("uses", "")), "no project install in the trusted job"
    runs = [s["run"] for s in steps if "run" in s]
    assert runs == ["make cml", 'python3 -m pipelines.comment --artifact "$ARTIFACT_DIR" --head-sha "$HEAD_SHA"']


def test_the_comment_command_needs_only_the_standard_library() -> None:
    """It runs on the runner's bare Python in the trusted job: no third-party imports on its path."""
    code = "import pipelines.comment, pipelines.checks, pipelines.adapters.github, pipelines.errors, sys; " \
           "bad = [m for m in sys.modules if m.split('.')[0] in {'yaml','pandas','pydantic','numpy'}]; " \
           "assert not bad, bad"  # fmt: skip
    result = subprocess.run([sys.executable, "-S", "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_zizmor_offline_is_clean_and_every_ignore_has_a_reason() -> None:
    zizmor = str(Path(sys.executable).parent / "zizmor")
    result = subprocess.run([zizmor, "--offline", str(GITHUB)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    for path in WORKFLOWS + ACTIONS:
        for line in path.read_text().splitlines():
            if "zizmor: ignore" in line:
                assert re.search(r"zizmor: ignore\[[\w-]+\] -- \S", line), f"{path.name}: ignore without a reason"


def test_workflows_and_actions_match_their_json_schemas() -> None:
    bin_dir = Path(sys.executable).parent
    for schema, files in (("vendor.github-workflows", WORKFLOWS), ("vendor.github-actions", ACTIONS)):
        result = subprocess.run([str(bin_dir / "check-jsonschema"), "--builtin-schema", schema, *map(str, files)],
                                capture_output=True, text=True)  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_is_clean_where_it_is_installed() -> None:
    actionlint = shutil.which("actionlint") or shutil.which("actionlint", path=str(ROOT / ".tools" / "bin"))
    if actionlint is None:
        pytest.skip("actionlint is not installable from this machine's registries; workflow-lint runs it on GitHub")
    result = subprocess.run([actionlint], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_protect_dry_run_prints_the_exact_api_call() -> None:
    result = subprocess.run([sys.executable, "-m", "pipelines", "protect", "--repo", "acme/churn", "--dry-run"],
                            cwd=ROOT, capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr
    calls = re.findall(r"^gh api --method PUT (\S+) --input -", result.stdout, re.MULTILINE)
    assert calls == [
        "repos/acme/churn/environments/staging",
        "repos/acme/churn/environments/production",
        "repos/acme/churn/branches/main/protection",
        "repos/acme/churn/branches/staging/protection",
        "repos/acme/churn/branches/production/protection",
    ]
    assert '"contexts": [\n      "ml-gate"\n    ]' in result.stdout
    assert '"protected_branches": true' in result.stdout


def test_every_required_check_is_a_job_that_runs_on_pull_requests_into_that_branch() -> None:
    protection = yaml.safe_load((GITHUB / "protection.yml").read_text())["branches"]
    for branch, rules in protection.items():
        jobs = set()
        for path in WORKFLOWS:
            doc = _load(path)
            trigger = doc["on"].get("pull_request") if isinstance(doc["on"], dict) else None
            if trigger is not None and branch in trigger.get("branches", []):
                jobs |= {job.get("name", key) for key, job in doc["jobs"].items()}
        assert set(rules["required_checks"]) <= jobs, branch


def test_environment_branches_match_params_and_deploys_are_serialised_not_cancelled() -> None:
    envs = [e.name for e in load_params(ROOT / "params.yaml").environments.order]
    deploy = _load(GITHUB / "workflows" / "deploy.yml")
    assert deploy["on"]["push"]["branches"] == envs
    assert deploy["concurrency"] == {"group": "deploy-${{ github.ref_name }}", "cancel-in-progress": False}
    assert deploy["jobs"]["deploy"]["environment"] == "${{ github.ref_name }}"
    assert _load(GITHUB / "workflows" / "promotion-gate.yml")["on"]["pull_request"]["branches"] == envs
    assert (
        _load(GITHUB / "workflows" / "rollback.yml")["on"]["workflow_dispatch"]["inputs"]["environment"]["options"]
        == envs
    )


def test_dependabot_updates_python_locks_image_requirements_pinned_actions_and_images() -> None:
    """Dependabot covers uv.lock, deploy/requirements.txt, the SHA-pinned actions and the digest-pinned images,
    weekly with a cooldown, and passes its schema."""
    config = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())
    ecosystems = {u["package-ecosystem"] for u in config["updates"]}
    assert ecosystems == {"uv", "pip", "github-actions", "docker", "docker-compose"}
    for update in config["updates"]:
        assert update["schedule"]["interval"] == "weekly" and update["cooldown"]["default-days"] >= 7, update
    tool = str(Path(sys.executable).parent / "check-jsonschema")
    target = str(ROOT / ".github" / "dependabot.yml")
    result = subprocess.run([tool, "--builtin-schema", "vendor.dependabot", target], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# Exact references allowed without a digest, each with why. Pin them (docs/OPERATIONS.md, "Image pins") and drop
# them here: the test below fails once one is pinned or gone, and a changed tag is not allowed by it.
UNPINNED_ALLOWED = {
    "ghcr.io/mlflow/mlflow:v3.17.2": "no public record of this tag's digest was found; v3.16's would run the "
    "server behind the 3.17 client in uv.lock",
}
DIGEST = "0" * 64


def test_every_base_and_service_image_is_pinned_by_tag_and_digest() -> None:
    """Every `FROM` of every Dockerfile and every compose `image:` is `name:tag@sha256:<64 hex>`: the tag for
    readers and Dependabot, the digest for what runs (a tag can be pushed again)."""
    dockerfiles, composes = pins.image_files(ROOT)
    assert {p.relative_to(ROOT).as_posix() for p in dockerfiles} >= {
        "deploy/Dockerfile",
        "deploy/team-stack/mlflow.Dockerfile",
    }
    assert {p.relative_to(ROOT).as_posix() for p in composes} >= {"deploy/team-stack/compose.yaml"}
    images = pins.images_in(dockerfiles, composes)
    assert len(images) >= 5
    bad = pins.unpinned(images, UNPINNED_ALLOWED)
    assert bad == [], {image: images[image] for image in bad}
    stale = set(UNPINNED_ALLOWED) - set(pins.unpinned(images))
    assert not stale, f"pinned or gone, drop from UNPINNED_ALLOWED: {sorted(stale)}"


@pytest.mark.parametrize(
    ("text", "reported"),
    [
        ("FROM python:3.11-slim-bookworm\n", ["python:3.11-slim-bookworm"]),
        ("FROM python:latest\n", ["python:latest"]),
        (f"FROM python@sha256:{DIGEST}\n", [f"python@sha256:{DIGEST}"]),  # a digest alone: no tag to read
        ("FROM python:3.11@sha256:abc123\n", ["python:3.11@sha256:abc123"]),  # not 64 hex
        ("ARG BASE=python:3.11\nFROM ${BASE}\n", ["${BASE}"]),  # cannot be checked, so not accepted
        (f"FROM --platform=linux/amd64 python:3.11@sha256:{DIGEST} AS build\nFROM build\nFROM scratch\n", []),
        (
            f"from ghcr.io/o/i:1.2@sha256:{DIGEST} as base\nFROM base\nFROM localhost:5000/o/i:2\n",
            ["localhost:5000/o/i:2"],
        ),
    ],
)
def test_the_pin_check_reports_a_base_image_without_tag_and_digest(text: str, reported: list[str]) -> None:
    assert pins.unpinned(pins.from_images(text)) == reported
    assert pins.unpinned(pins.from_images(text), allowed=reported) == []  # only the exact reference is excused


def test_the_pin_check_reports_a_compose_image_without_tag_and_digest() -> None:
    compose = yaml.safe_dump({"services": {
        "db": {"image": "postgres:16.6-bookworm"},
        "store": {"image": f"minio/minio:RELEASE.2025-09-07T16-13-09Z@sha256:{DIGEST}"},
        "tool": {"image": "minio/mc"},
        "app": {"build": {"context": ".", "dockerfile": "app.Dockerfile"}},
    }})  # fmt: skip
    assert pins.unpinned(pins.compose_images(compose)) == ["postgres:16.6-bookworm", "minio/mc"]
    assert pins.unpinned(["postgres:16.6-bookworm"], allowed=["postgres:16.7-bookworm"]) == ["postgres:16.6-bookworm"]


def test_dependabot_watches_every_directory_with_a_dockerfile_or_a_compose_file() -> None:
    """Dependabot's docker ecosystem reads any file whose name contains "dockerfile" (`mlflow.Dockerfile`
    included) and docker-compose reads compose files, one directory per entry: each such directory needs one."""
    dockerfiles, composes = pins.image_files(ROOT)
    watched = {"docker": pins.directories(ROOT, dockerfiles), "docker-compose": pins.directories(ROOT, composes)}
    assert watched["docker"] >= {"/deploy", "/deploy/team-stack"}
    assert watched["docker-compose"] >= {"/deploy/team-stack"}
    config = yaml.safe_load((GITHUB / "dependabot.yml").read_text())
    assert pins.dependabot_gaps(config, watched) == []


def test_the_dependabot_check_reports_a_directory_no_entry_watches() -> None:
    watched = {"docker": {"/deploy", "/deploy/team-stack"}, "docker-compose": {"/deploy/team-stack"}}
    only_the_serving_image = {"updates": [{"package-ecosystem": "docker", "directory": "/deploy"},
                                          {"package-ecosystem": "pip", "directory": "/deploy/team-stack"}]}  # fmt: skip
    assert pins.dependabot_gaps(only_the_serving_image, watched) == [
        "docker: /deploy/team-stack is not watched by .github/dependabot.yml",
        "docker-compose: /deploy/team-stack is not watched by .github/dependabot.yml",
    ]
    globbed = {"updates": [{"package-ecosystem": "docker", "directories": ["/deploy", "/deploy/*"]},
                           {"package-ecosystem": "docker-compose", "directory": "/deploy/team-stack/"}]}  # fmt: skip
    assert pins.dependabot_gaps(globbed, watched) == []
    assert pins.dependabot_gaps({"updates": []}, {"docker": {"/"}}) == [
        "docker: / is not watched by .github/dependabot.yml"
    ]


def test_pre_commit_runs_ruff_and_the_workflow_checks() -> None:
    """The pre-commit config is valid and runs ruff, zizmor and the workflow schema."""
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = {h["id"] for repo in config["repos"] for h in repo["hooks"]}
    assert {"ruff-check", "ruff-format", "zizmor", "workflow-schema"} <= hooks
    tool = str(Path(sys.executable).parent / "pre-commit")
    result = subprocess.run(
        [tool, "validate-config", str(ROOT / ".pre-commit-config.yaml")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_one_required_check_passes_only_when_the_gate_and_the_suite_both_pass() -> None:
    """pull-request.yml: `ml-gate` always runs, needs the pipeline gate and the tests, and judges their results;
    the tests job runs the README's test command and the linters; main.yml runs them before the model of record."""
    from pipelines.checks import verdict

    doc = _load(GITHUB / "workflows" / "pull-request.yml")
    gate = doc["jobs"]["ml-gate"]
    assert gate["if"] == "always()" and set(gate["needs"]) == {"pipeline", "tests"}
    assert [s["run"] for s in gate["steps"] if "run" in s] == ["python3 -m pipelines.checks"]
    assert [s["run"] for s in doc["jobs"]["tests"]["steps"] if "run" in s] == ["make lint", "make test"]
    main = _load(GITHUB / "workflows" / "main.yml")
    assert [s["run"] for s in main["jobs"]["tests"]["steps"] if "run" in s] == ["make lint", "make test"]
    assert main["jobs"]["record"]["needs"] == "tests"
    assert verdict({"pipeline": {"result": "success"}, "tests": {"result": "success"}})[0]
    for result in ("failure", "cancelled", "skipped"):
        assert not verdict({"pipeline": {"result": "success"}, "tests": {"result": result}})[0]
    assert not verdict({})[0]


def test_the_checks_command_reads_the_needs_context_and_exits_by_it() -> None:
    env = {**os.environ, "NEEDS": json.dumps({"pipeline": {"result": "success"}, "tests": {"result": "failure"}})}
    failed = subprocess.run([sys.executable, "-m", "pipelines.checks"], cwd=ROOT, env=env, capture_output=True,
                            text=True, check=False)  # fmt: skip
    assert failed.returncode == 1 and "tests: failure" in failed.stderr
    env["NEEDS"] = json.dumps({"pipeline": {"result": "success"}, "tests": {"result": "success"}})
    passed = subprocess.run([sys.executable, "-m", "pipelines.checks"], cwd=ROOT, env=env, capture_output=True,
                            text=True, check=False)  # fmt: skip
    assert passed.returncode == 0, passed.stderr


def test_the_template_self_test_adapts_every_table_and_runs_the_readmes_two_commands() -> None:
    from tests.tables import TABLES, TARGETS

    doc = _load(GITHUB / "workflows" / "template-selftest.yml")
    job = doc["jobs"]["adapted"]
    assert job["if"] == "github.event.repository.is_template", "forks made from the template skip it"
    kinds = {entry["kind"]: entry["target"] for entry in job["strategy"]["matrix"]["include"]}
    assert kinds == {kind: TARGETS[kind] for kind in TABLES}, "every table of tests/tables.py, with its target"
    assert any(e["table"].endswith(".parquet") for e in job["strategy"]["matrix"]["include"])
    runs = [s["run"] for s in job["steps"] if "run" in s]
    assert runs == ['make table KIND="$KIND" OUT="$TABLE"', 'make init ARGS="--dataset $TABLE --target $TARGET"',
                    "make run", "make test"]  # fmt: skip


def test_uv_is_pinned_in_one_place_and_make_installs_that_version() -> None:
    """The setup action's `version:` is uv's one pin (GitHub's runners install it); `make install` reads it from
    there rather than repeating it, and pyproject.toml states only the floor any uv must meet."""
    setup = yaml.safe_load((GITHUB / "actions" / "setup" / "action.yml").read_text())
    pinned = next(s["with"]["version"] for s in setup["runs"]["steps"] if "setup-uv" in s.get("uses", ""))
    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned)
    made = subprocess.run(["make", "-s", "--eval", "print-uv: ; @echo $(UV_VERSION)", "print-uv"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    assert made == pinned
    assert pinned not in (ROOT / "Makefile").read_text() and pinned not in (ROOT / "pyproject.toml").read_text()
