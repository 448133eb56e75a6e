"""The monitor's verdict for Prometheus: gauges written in text format (node_exporter's textfile collector)
and/or pushed to a Pushgateway."""

from __future__ import annotations

from typing import Any


def write_prometheus(path: str | None, verdict: dict[str, Any], gateway: str | None = None) -> int:
    """The monitor's verdict as Prometheus gauges: live metric values, labelled rows and label coverage per
    model, challenger - champion per metric, drift per feature, the alert. Written in text format to `path`
    (for node_exporter's textfile collector) and/or pushed to the Pushgateway at `gateway` (a URL; job
    `gitops-ml-monitor`, replacing the previous push). Returns the number of metric families."""
    from prometheus_client import CollectorRegistry, Gauge, push_to_gateway, write_to_textfile

    registry = CollectorRegistry()
    metric = Gauge("gitops_ml_live_metric", "a task metric on labelled live rows", ["metric", "model_hash", "role"],
                   registry=registry)  # fmt: skip
    labelled = Gauge("gitops_ml_live_labelled_rows", "predictions with an outcome", ["model_hash"], registry=registry)
    coverage = Gauge("gitops_ml_live_label_coverage", "labelled / predicted", ["model_hash"], registry=registry)
    drifted = Gauge("gitops_ml_feature_drift", "1 when the feature drifted", ["feature"], registry=registry)
    alert = Gauge("gitops_ml_monitor_alert", "1 when the monitor alerts (drift or a broken floor)", registry=registry)
    for entry in verdict.get("live") or []:
        short = str(entry["model_hash"])[:12]
        labelled.labels(short).set(entry["labelled"])
        coverage.labels(short).set(entry["coverage"])
        for name, value in entry["metrics"].items():
            metric.labels(name, short, entry["role"]).set(value)
    comparison = verdict.get("comparison")
    if comparison:
        difference = Gauge("gitops_ml_challenger_difference", "challenger - champion on the same live rows",
                           ["metric", "challenger"], registry=registry)  # fmt: skip
        for name, entry in comparison["difference"].items():
            difference.labels(name, comparison["challenger"][:12]).set(entry["difference"])
    for name, info in (verdict.get("features") or {}).items():
        drifted.labels(name).set(1.0 if info.get("drifted") else 0.0)
    alert.set(1.0 if verdict.get("alert") else 0.0)
    if path:
        write_to_textfile(path, registry)
    if gateway:
        push_to_gateway(gateway, job="gitops-ml-monitor", registry=registry, timeout=30)
    return len(list(registry.collect()))
