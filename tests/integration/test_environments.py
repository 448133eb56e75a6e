"""Adding an environment to an existing project is one command (`add-environment`): every file that lists the
environments agrees afterwards, the new overlay renders and passes the schemas and the policy unpromoted, and
the promotion chain runs through it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipelines.adapters.params import load_params
from tests.helpers.project import clone_template

pytestmark = pytest.mark.slow


def _listed(repo: Path) -> dict[str, list[str]]:
    """Where the environments are listed outside params.yaml, each as the list found there."""
    workflows = repo / ".github" / "workflows"
    deploy = yaml.safe_load((workflows / "deploy.yml").read_text())
    protection = yaml.safe_load((repo / ".github" / "protection.yml").read_text())
    applications = yaml.safe_load((repo / "deploy" / "argocd" / "applicationset.yaml").read_text())
    return {
        "deploy.yml branches": deploy[True]["push"]["branches"],
        "deploy.yml if": [p.split("'")[1] for p in deploy["jobs"]["deploy"]["if"].split("||")],
        "promotion-gate.yml": yaml.safe_load((workflows / "promotion-gate.yml").read_text())[True]["pull_request"][
            "branches"
        ],
        "rollback.yml": yaml.safe_load((workflows / "rollback.yml").read_text())[True]["workflow_dispatch"]["inputs"][
            "environment"
        ]["options"],
        "protection branches": [b for b in protection["branches"] if b != "main"],
        "protection environments": list(protection["environments"]),
        "argocd": [e["environment"] for g in applications["spec"]["generators"] for e in g["list"]["elements"]],
        "overlays": sorted(p.name for p in (repo / "deploy" / "k8s" / "overlays").iterdir()),
    }


def test_one_command_adds_an_environment_everywhere_it_is_listed(tmp_path: Path) -> None:
    repo = clone_template(tmp_path)
    before = [e.name for e in load_params(repo.path / "params.yaml").environments.order]
    repo.pipelines("add-environment", "canary", "--after", before[0])
    envs = load_params(repo.path / "params.yaml").environments.order
    names = [e.name for e in envs]
    assert names == [before[0], "canary", *before[1:]]
    assert [e.promote_from for e in envs] == ["main", *names[:-1]]  # the chain runs through the new one
    for where, found in _listed(repo.path).items():
        assert (sorted(found) if where == "overlays" else found) == (sorted(names) if where == "overlays" else names), (
            where
        )
    checked = repo.pipelines("render", "--env", "canary", "--check")
    assert "canary: the rendered manifests pass the Kubernetes schemas and the policy" in checked.stderr
    overlay = yaml.safe_load((repo.path / "deploy" / "k8s" / "overlays" / "canary" / "kustomization.yaml").read_text())
    assert overlay["namespace"] == "ml-canary" and "../../components/unpromoted" in overlay["components"]
    assert all("digest" not in image for image in overlay["images"])
    refused = repo.pipelines("add-environment", "canary", check=False)
    assert refused.returncode == 1 and "'canary' is an environment already" in refused.stderr
    assert repo.pipelines("add-environment", "Bad_Name", check=False).returncode == 1
    assert (
        not repo.git("status", "--porcelain", "--", ".template.yml").stdout
        or "canary" in (repo.path / ".template.yml").read_text()
    )


def test_a_new_environment_after_a_promoted_one_starts_unpromoted() -> None:
    """Its overlay is copied from the environment it follows, without that one's digest, model labels and
    annotation: zero pods until its own first promotion (the policy `render --check` applies)."""
    from pipelines.adapters.overlays import with_release
    from pipelines.core import k8s_policy as policy
    from pipelines.template.environments import _overlay
    from tests.helpers.project import ROOT

    source = (ROOT / "deploy" / "k8s" / "overlays" / "staging" / "kustomization.yaml").read_text()
    promoted = with_release(source, "ghcr.io/acme/churn@sha256:" + "1" * 64, "staging-v3", "ab" * 32)
    assert "sha256" in promoted and "components/unpromoted" not in promoted
    fresh = yaml.safe_load(_overlay(promoted, "staging", "canary"))
    assert "../../components/unpromoted" in fresh["components"] and "commonAnnotations" not in fresh
    assert all("digest" not in image for image in fresh["images"])
    assert all(policy.VERSION_LABEL not in entry["pairs"] for entry in fresh["labels"])
    assert fresh["labels"][0]["pairs"]["gitops-ml/environment"] == "canary"


def test_add_environment_refuses_what_would_break_and_follows_the_first_environment(tmp_path: Path) -> None:
    """Names a branch or namespace cannot take, or that the project's own branches use, are refused; a workflow
    list in a form it cannot edit is named and nothing is written; an old params.yaml (environments.stages) works;
    a new first environment (--after main) is the one deploy-kind applies, synced as the old first was."""
    repo = clone_template(tmp_path)
    for bad in ("promote", "rollback", "qa-", "q" * 61, "Bad"):
        refused = repo.pipelines("add-environment", bad, check=False)
        assert refused.returncode == 1 and refused.stderr.startswith("error: "), (bad, refused.stderr)
    gate = repo.path / ".github" / "workflows" / "promotion-gate.yml"
    flow = gate.read_text()
    names = [e.name for e in load_params(repo.path / "params.yaml").environments.order]
    gate.write_text(flow.replace("[" + ", ".join(names) + "]", "\n" + "".join(f"      - {n}\n" for n in names)))
    refused = repo.pipelines("add-environment", "qa", check=False)
    assert refused.returncode == 1 and ".github/workflows/promotion-gate.yml" in refused.stderr
    assert repo.git("status", "--porcelain").stdout.strip() == "M .github/workflows/promotion-gate.yml"
    gate.write_text(flow)
    params = repo.path / "params.yaml"
    params.write_text(params.read_text().replace("  order:", "  stages:"))
    added = repo.pipelines("add-environment", "qa", "--after", "main")
    assert "environments.stages is deprecated, renamed environments.order: renamed in the file" in added.stderr
    assert "  order:" in params.read_text() and "  stages:" not in params.read_text()
    assert [e.name for e in load_params(params).environments.order] == ["qa", *names]
    kind = yaml.safe_load((repo.path / ".github" / "workflows" / "deploy-kind.yml").read_text())
    assert "ENVIRONMENT: qa # the first environment" in (repo.path / ".github/workflows/deploy-kind.yml").read_text()
    applications = yaml.safe_load((repo.path / "deploy" / "argocd" / "applicationset.yaml").read_text())
    elements = applications["spec"]["generators"][0]["list"]["elements"]
    assert elements[0] == {"environment": "qa", "automated": elements[1]["automated"]}
    assert kind  # still YAML
