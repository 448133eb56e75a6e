"""Policy for what an environment's rendered Kubernetes manifests must say (pure: documents in, problems out).

The documents are what `kubectl kustomize deploy/k8s/overlays/<env>` renders (pipelines.adapters.overlays).
A promoted environment runs the serving image by digest, probes the service's real health paths on its
port, sets resources, runs non-root on a read-only root filesystem with a writable volume for the
prediction log, waits longer than the service's graceful shutdown before it kills a pod, carries the
model's version and short hash as labels and the full hash as an annotation, and has an autoscaler and a
disruption budget. An environment nothing has been promoted to yet runs no pod at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

DIGEST = re.compile(r"^[^@\s]+@sha256:[0-9a-f]{64}$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
VERSION_LABEL = "gitops-ml/model-version"
HASH_LABEL = "gitops-ml/model-hash"
HASH_ANNOTATION = "gitops-ml/model-content-hash"
UNPROMOTED = "gitops-ml/unpromoted"
HEALTH = {"startupProbe": "/health/ready", "readinessProbe": "/health/ready", "livenessProbe": "/health/live"}


def by_kind(documents: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """The rendered documents grouped by `kind`."""
    found: dict[str, list[Mapping[str, Any]]] = {}
    for document in documents:
        found.setdefault(str(document.get("kind")), []).append(document)
    return found


def deployment(documents: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The one Deployment of an environment; ValueError when there is not exactly one."""
    found = by_kind(documents).get("Deployment", [])
    if len(found) != 1:
        raise ValueError(f"expected one Deployment, rendered {len(found)}")
    return found[0]


def promoted(documents: Sequence[Mapping[str, Any]]) -> bool:
    """Whether a model has been promoted to the environment (its Deployment is not pinned to zero pods)."""
    annotations = deployment(documents).get("metadata", {}).get("annotations") or {}
    return annotations.get(UNPROMOTED) != "true"


def _port(container: Mapping[str, Any], probe: Mapping[str, Any]) -> int | None:
    port = probe.get("httpGet", {}).get("port")
    if isinstance(port, int):
        return port
    named = {p.get("name"): p.get("containerPort") for p in container.get("ports", [])}
    return named.get(port)


def problems(documents: Sequence[Mapping[str, Any]], port: int, graceful_shutdown_seconds: float) -> list[str]:
    """Every rule the rendered environment breaks (empty: it complies). `port` is the service's container port
    and `graceful_shutdown_seconds` its shutdown time (params.yaml `serve`)."""
    kinds = by_kind(documents)
    out: list[str] = []
    try:
        spec = deployment(documents)
    except ValueError as exc:
        return [str(exc)]
    pod = spec.get("spec", {}).get("template", {})
    pod_spec = pod.get("spec", {})
    containers = pod_spec.get("containers", [])
    if len(containers) != 1:
        return [f"expected one container in the Deployment, found {len(containers)}"]
    container = containers[0]
    is_promoted = promoted(documents)
    if not is_promoted:
        if spec.get("spec", {}).get("replicas") != 0:
            out.append("an unpromoted environment must render replicas: 0")
        if kinds.get("HorizontalPodAutoscaler"):
            out.append("an unpromoted environment must render no HorizontalPodAutoscaler (it would scale from 0)")
    else:
        image = str(container.get("image", ""))
        if not DIGEST.match(image):
            out.append(f"image {image!r} is not pinned by digest (name@sha256:<64 hex>)")
        if not kinds.get("HorizontalPodAutoscaler"):
            out.append("no HorizontalPodAutoscaler")
        if "replicas" in spec.get("spec", {}):
            out.append("the Deployment sets replicas while an autoscaler owns the count")
        labels = pod.get("metadata", {}).get("labels") or {}
        annotations = pod.get("metadata", {}).get("annotations") or {}
        for key in (VERSION_LABEL, HASH_LABEL):
            value = str(labels.get(key, ""))
            if not value or len(value) > 63 or not LABEL_VALUE.match(value):
                out.append(f"pod label {key} is missing or not a valid label value: {value!r}")
        if not re.fullmatch(r"[0-9a-f]{64}", str(annotations.get(HASH_ANNOTATION, ""))):
            out.append(f"pod annotation {HASH_ANNOTATION} must be the model's full sha256")
        elif not str(annotations[HASH_ANNOTATION]).startswith(str(labels.get(HASH_LABEL, "-"))):
            out.append(f"label {HASH_LABEL} is not the start of annotation {HASH_ANNOTATION}")
    if not kinds.get("PodDisruptionBudget"):
        out.append("no PodDisruptionBudget")
    for probe_name, path in HEALTH.items():
        probe = container.get(probe_name)
        if not probe:
            out.append(f"no {probe_name}")
            continue
        if probe.get("httpGet", {}).get("path") != path or _port(container, probe) != port:
            out.append(f"{probe_name} must GET {path} on port {port}")
    resources = container.get("resources", {})
    for part in ("requests", "limits"):
        if not {"cpu", "memory"} <= set(resources.get(part, {})):
            out.append(f"resources.{part} must set cpu and memory")
    pod_security, security = pod_spec.get("securityContext", {}), container.get("securityContext", {})
    if not (pod_security.get("runAsNonRoot") or security.get("runAsNonRoot")):
        out.append("runAsNonRoot is not set")
    if not security.get("readOnlyRootFilesystem"):
        out.append("the root filesystem is not read-only")
    if security.get("allowPrivilegeEscalation", True):
        out.append("allowPrivilegeEscalation is not false")
    mounts = {m.get("mountPath") for m in container.get("volumeMounts", [])}
    if "/srv/logs" not in mounts:
        out.append("no writable volume at /srv/logs for the prediction log")
    grace = pod_spec.get("terminationGracePeriodSeconds", 30)
    if not grace > graceful_shutdown_seconds:
        out.append(f"terminationGracePeriodSeconds {grace} is not above serve.graceful_shutdown_seconds "
                   f"({graceful_shutdown_seconds:g})")  # fmt: skip
    annotations = pod.get("metadata", {}).get("annotations") or {}
    if annotations.get("prometheus.io/scrape") != "true" or annotations.get("prometheus.io/port") != str(port):
        out.append(f"the pod template lacks prometheus.io/scrape and prometheus.io/port={port} annotations")
    return out


def declared_image(documents: Sequence[Mapping[str, Any]]) -> str | None:
    """The image a promoted environment runs (by digest), or None before its first promotion."""
    if not promoted(documents):
        return None
    return str(deployment(documents)["spec"]["template"]["spec"]["containers"][0]["image"])
