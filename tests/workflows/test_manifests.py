"""The environments' Kubernetes manifests (deploy/k8s) and the Argo CD objects (deploy/argocd), checked
without a cluster: every overlay renders with kustomize, validates against the Kubernetes schemas, and
meets the policy, before and after a promotion; the policy itself catches what it is meant to."""

from __future__ import annotations

import copy
import shutil

import pytest
import yaml

from pipelines.adapters import overlays
from pipelines.core import k8s_policy as policy
from tests.helpers.project import PARAMS, ROOT

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (with kustomize) is not installed")
ENVS = [stage.name for stage in PARAMS.environments.order]
PORT, GRACE = PARAMS.serve.port, PARAMS.serve.graceful_shutdown_seconds
IMAGE = "ghcr.io/acme/churn@sha256:" + "ab" * 32
MODEL = "c0ffee" * 10 + "abcd"


def _rendered(env: str, image: str | None = None) -> list[dict]:
    return overlays.documents(overlays.render(env, ROOT, image))


@pytest.mark.parametrize("env", ENVS)
def test_before_its_first_promotion_an_environment_runs_no_pod_and_has_no_autoscaler(env: str) -> None:
    docs = _rendered(env)
    assert overlays.schema_problems(docs) == []
    assert policy.problems(docs, PORT, GRACE) == []
    assert not policy.promoted(docs) and policy.deployment(docs)["spec"]["replicas"] == 0
    assert "HorizontalPodAutoscaler" not in policy.by_kind(docs) and policy.declared_image(docs) is None


@pytest.mark.parametrize("env", ENVS)
def test_a_promoted_environment_runs_the_image_by_digest_with_probes_labels_and_autoscaling(env: str) -> None:
    docs = _rendered(env, IMAGE)
    assert overlays.schema_problems(docs) == []
    assert policy.problems(docs, PORT, GRACE) == []
    kinds = policy.by_kind(docs)
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "ServiceAccount",
            "NetworkPolicy", "ConfigMap"} <= set(kinds)  # fmt: skip
    pod = policy.deployment(docs)["spec"]["template"]
    assert pod["spec"]["containers"][0]["image"] == IMAGE and policy.declared_image(docs) == IMAGE
    assert pod["metadata"]["labels"]["gitops-ml/environment"] == env
    assert all(d["metadata"].get("namespace") == f"ml-{env}" for d in docs)
    hpa = kinds["HorizontalPodAutoscaler"][0]["spec"]
    assert 1 <= hpa["minReplicas"] <= hpa["maxReplicas"]
    config = kinds["ConfigMap"][0]["data"]["SERVE_LOG_DIRECTORY"]
    assert config.startswith("s3://") and config.endswith(f"/{env}"), "each environment logs to its own prefix"


def test_the_promotion_edit_sets_digest_labels_and_annotation_and_keeps_the_comments() -> None:
    text = (ROOT / overlays.kustomization_path(ENVS[0])).read_text()
    edited = overlays.with_release(text, IMAGE, f"{ENVS[0]}-v3", MODEL)
    data = yaml.safe_load(edited)
    assert data["images"][0] == {"name": "prediction-service", "newName": IMAGE.split("@")[0],
                                 "digest": IMAGE.split("@")[1]}  # fmt: skip
    assert overlays.UNPROMOTED_COMPONENT not in (data.get("components") or [])
    pairs = [e["pairs"] for e in data["labels"] if policy.VERSION_LABEL in e["pairs"]]
    assert pairs == [{policy.VERSION_LABEL: f"{ENVS[0]}-v3", policy.HASH_LABEL: MODEL[:12]}]
    assert data["commonAnnotations"] == {policy.HASH_ANNOTATION: MODEL}
    assert "# Promotion writes" in edited
    again = yaml.safe_load(overlays.with_release(edited, IMAGE, f"{ENVS[0]}-v4", MODEL))
    assert [e["pairs"][policy.VERSION_LABEL] for e in again["labels"] if policy.VERSION_LABEL in e["pairs"]] == [
        f"{ENVS[0]}-v4"
    ]
    with pytest.raises(overlays.ManifestError, match="not pinned by digest"):
        overlays.with_release(text, "ghcr.io/acme/churn:latest", "v1", MODEL)


def _broken(change) -> list[str]:  # type: ignore[no-untyped-def]
    docs = copy.deepcopy(_rendered(ENVS[0], IMAGE))
    change(policy.deployment(docs), docs)
    return policy.problems(docs, PORT, GRACE)


def _container(deployment: dict) -> dict:
    return deployment["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d, _: _container(d).update(image="ghcr.io/acme/churn:latest"), "not pinned by digest"),
        (lambda d, _: _container(d)["readinessProbe"]["httpGet"].update(path="/"), "readinessProbe must GET"),
        (lambda d, _: _container(d)["livenessProbe"]["httpGet"].update(port=9999), "livenessProbe must GET"),
        (lambda d, _: _container(d).pop("resources"), "resources.requests must set"),
        (lambda d, _: _container(d)["securityContext"].update(readOnlyRootFilesystem=False), "read-only"),
        (lambda d, _: d["spec"]["template"]["spec"].update(terminationGracePeriodSeconds=5), "above serve.graceful"),
        (lambda d, _: d["spec"]["template"]["metadata"]["labels"].update({policy.HASH_LABEL: "x" * 64}), "label"),
        (lambda d, docs: docs.remove(policy.by_kind(docs)["PodDisruptionBudget"][0]), "no PodDisruptionBudget"),
        (lambda d, docs: docs.remove(policy.by_kind(docs)["HorizontalPodAutoscaler"][0]), "no HorizontalPod"),
        (lambda d, _: d["spec"]["template"]["metadata"]["annotations"].pop("prometheus.io/scrape"), "prometheus"),
    ],
)  # fmt: skip
def test_the_policy_names_each_rule_a_rendering_breaks(change, expected: str) -> None:  # type: ignore[no-untyped-def]
    found = _broken(change)
    assert any(expected in problem for problem in found), found


def test_the_grace_period_covers_the_services_shutdown_and_the_pre_stop_pause() -> None:
    pod = policy.deployment(_rendered(ENVS[0], IMAGE))["spec"]["template"]["spec"]
    pause = 5  # the preStop sleep in deploy/k8s/base/deployment.yaml
    assert pod["terminationGracePeriodSeconds"] > GRACE + pause


def test_the_argo_cd_applicationset_follows_each_environments_branch_and_overlay() -> None:
    """Field by field what a controller needs: the project's repo, the environment branch, its overlay, and
    automated sync with prune and self-heal (the last environment syncs by hand)."""
    doc = yaml.safe_load((ROOT / "deploy" / "argocd" / "applicationset.yaml").read_text())
    assert doc["apiVersion"] == "argoproj.io/v1alpha1" and doc["kind"] == "ApplicationSet"
    elements = doc["spec"]["generators"][0]["list"]["elements"]
    assert [e["environment"] for e in elements] == ENVS
    assert [e["automated"] for e in elements] == ["true"] * (len(ENVS) - 1) + ["false"]
    source = doc["spec"]["template"]["spec"]["source"]
    assert source["targetRevision"] == "{{.environment}}"
    assert source["path"] == "deploy/k8s/overlays/{{.environment}}"
    assert source["repoURL"].endswith(".git")
    assert doc["spec"]["template"]["spec"]["destination"]["namespace"] == "ml-{{.environment}}"
    patch = doc["spec"]["templatePatch"]
    assert "prune: true" in patch and "selfHeal: true" in patch
    for env in ENVS:
        assert (ROOT / overlays.OVERLAYS / env / "kustomization.yaml").exists()


def test_the_optional_servicemonitor_scrapes_the_services_metrics_port() -> None:
    monitor = yaml.safe_load((ROOT / "deploy/k8s/components/servicemonitor/servicemonitor.yaml").read_text())
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1" and monitor["kind"] == "ServiceMonitor"
    assert monitor["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "prediction-service"}
    assert monitor["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "30s"}]


def test_render_prints_and_checks_an_environment_from_the_cli() -> None:
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "pipelines", "render", "--env", ENVS[-1], "--image", IMAGE],
                            cwd=ROOT, capture_output=True, text=True, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert IMAGE in result.stdout and "pass the Kubernetes schemas and the policy" in result.stderr
    unknown = subprocess.run([sys.executable, "-m", "pipelines", "render", "--env", "nowhere", "--check"],
                             cwd=ROOT, capture_output=True, text=True, check=False)  # fmt: skip
    assert unknown.returncode == 1 and "nowhere" in unknown.stderr and "Traceback" not in unknown.stderr
