"""deploy/team-stack checked without a container engine: the compose file against the Compose spec, and the
fields a team relies on (pinned images, health checks, named volumes, no literal secret anywhere)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.helpers.project import ROOT

STACK = ROOT / "deploy" / "team-stack"
COMPOSE = yaml.safe_load((STACK / "compose.yaml").read_text())
SECRET_WORDS = ("PASSWORD", "SECRET", "ACCESS_KEY", "ROOT_USER", "TOKEN")


def test_the_compose_file_matches_the_compose_spec() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
         str(STACK / "compose.yaml")], capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_images_are_pinned_to_a_version_and_long_running_services_have_health_checks() -> None:
    for name, service in COMPOSE["services"].items():
        image = service.get("image")
        if image is None:
            dockerfile = (STACK / service["build"]["dockerfile"]).read_text()
            image = re.search(r"^FROM (\S+)", dockerfile, re.M)[1]  # type: ignore[index]
        tagged = image.split("@", 1)[0]  # the digest is checked in tests/workflows/test_workflows.py
        tag = tagged.rsplit(":", 1)[-1] if ":" in tagged else ""
        assert tag and tag != "latest" and re.search(r"\d", tag), f"{name}: {image} is not pinned to a version"
        if service.get("restart") != "no":
            assert "healthcheck" in service, f"{name}: no health check"


def test_state_lives_in_named_volumes() -> None:
    declared = set(COMPOSE["volumes"])
    used = {v.split(":")[0] for s in COMPOSE["services"].values() for v in s.get("volumes", [])}
    assert used == declared == {"postgres-data", "minio-data"}


def test_no_secret_is_written_in_the_files_only_read_from_the_env_file() -> None:
    text = (STACK / "compose.yaml").read_text()
    for service in COMPOSE["services"].values():
        for key, value in (service.get("environment") or {}).items():
            if any(word in key for word in SECRET_WORDS):
                assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", str(value)), f"{key} must come from .env: {value!r}"
    referenced = set(re.findall(r"\$\{([A-Z_]+)", text))
    example = dict(line.split("=", 1) for line in (STACK / ".env.example").read_text().splitlines()
                   if line and not line.startswith("#"))  # fmt: skip
    assert referenced == set(example), "the example env file lists exactly the variables the stack reads"
    assert all(not value for key, value in example.items() if any(w in key for w in SECRET_WORDS))
    ignored = subprocess.run(["git", "check-ignore", "-q", "deploy/team-stack/.env"], cwd=ROOT, check=False)
    assert ignored.returncode == 0, ".env must be ignored by git"


def test_mlflow_proxies_artifacts_so_clients_need_no_bucket_credentials() -> None:
    command = COMPOSE["services"]["mlflow"]["command"]
    assert "--serve-artifacts" in command
    assert any(c.startswith("--artifacts-destination=s3://") for c in command)
    assert any(c.startswith("--backend-store-uri=postgresql") for c in command)
