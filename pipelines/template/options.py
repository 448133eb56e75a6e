"""What `init` was asked for (`Options`): the one type init's planner (plan.py) and its file edits
(edits.py) share, in a module of its own so neither imports the other."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.template.record import sha256


@dataclass(frozen=True)
class Options:
    """What `init` was asked for; None keeps what the files say now."""

    name: str
    model_name: str | None = None
    image: str | None = None
    environments: tuple[str, str] | None = None
    reviewers: tuple[str, ...] | None = None
    dvc_remote: str | None = None
    dvc_endpoint: str | None = None  # an S3-compatible store's URL (MinIO): the remote's endpointurl
    mlflow_uri: str | None = None
    dataset: Path | None = None
    target: str | None = None
    task: str | None = None
    repo_url: str | None = None  # the git URL Argo CD syncs from (deploy/argocd)
    missing_values: tuple[str, ...] | None = None  # None: params.yaml's data.missing_values
    keep_columns: tuple[str, ...] = ()  # use as features even if they look like identifiers or timestamps

    def recorded(self) -> dict[str, Any]:
        """The options as written to the record (dataset by file name and content hash)."""
        out: dict[str, Any] = {
            "name": self.name,
            "model_name": self.model_name,
            "image": self.image,
            "environments": list(self.environments) if self.environments else None,
            "reviewers": list(self.reviewers) if self.reviewers is not None else None,
            "dvc_remote": self.dvc_remote,
            "mlflow_uri": self.mlflow_uri,
        }
        if self.repo_url is not None:
            out["repo_url"] = self.repo_url
        if self.dvc_endpoint is not None:
            out["dvc_endpoint"] = self.dvc_endpoint
        if self.dataset is not None:
            out.update(
                dataset=self.dataset.name,
                dataset_sha256=sha256(self.dataset.read_bytes()),
                target=self.target,
                task=self.task,
            )
            if self.missing_values is not None:
                out["missing_values"] = list(self.missing_values)
            if self.keep_columns:
                out["keep_columns"] = list(self.keep_columns)
        return out
