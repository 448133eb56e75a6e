"""The environments' Kubernetes manifests on disk and in git: render an overlay, read and write what it
declares (the image by digest and the model labels), check it against the schemas and the policy.

Paths: `deploy/k8s/overlays/<environment>/kustomization.yaml` (one overlay per environment in
params.yaml), rendered with `kubectl kustomize` (kustomize is built into kubectl). Promotion edits an
overlay with a YAML round trip (comments kept), since `kustomize edit` needs the kustomize binary.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from pipelines.errors import PipelineError

OVERLAYS = "deploy/k8s/overlays"
UNPROMOTED_COMPONENT = "../../components/unpromoted"
KUBERNETES_VERSION = "1.32.0"  # the schemas rendered manifests are validated against (docs/OPERATIONS.md)


class ManifestError(PipelineError):
    """An overlay is missing, does not render, or breaks the schemas or the policy."""


def overlay(env: str, root: Path | str = ".") -> Path:
    """The overlay directory of environment `env`."""
    return Path(root) / OVERLAYS / env


def kustomization_path(env: str) -> str:
    """The repository path of `env`'s kustomization.yaml (what promotion edits)."""
    return f"{OVERLAYS}/{env}/kustomization.yaml"


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 120
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def with_release(text: str, image: str, version: str, model_hash: str) -> str:
    """An overlay's kustomization.yaml declaring `image` (name@sha256:...) and the model's labels.

    Sets the `images:` entry (newName and digest), the pod labels gitops-ml/model-version (`version`) and
    gitops-ml/model-hash (12 characters) and the annotation gitops-ml/model-content-hash (the full sha256),
    and removes the unpromoted component. Raises ManifestError for an image that is not pinned by digest.
    """
    from pipelines.core import k8s_policy as policy

    if not policy.DIGEST.match(image):
        raise ManifestError(f"image {image!r} is not pinned by digest: only the built image's digest is deployed")
    name, digest = image.split("@", 1)
    yaml = _yaml()
    data = yaml.load(text)
    entries = data.get("images") or []
    if not entries:
        raise ManifestError("the overlay has no `images:` entry for the serving image")
    entries[0]["newName"] = name
    entries[0]["digest"] = digest
    if "newTag" in entries[0]:
        del entries[0]["newTag"]
    components = data.get("components")
    if components is not None and UNPROMOTED_COMPONENT in components:
        components.remove(UNPROMOTED_COMPONENT)
        if not components:
            del data["components"]
    from ruamel.yaml.comments import CommentedMap

    release_labels = CommentedMap(
        [("pairs", CommentedMap([(policy.VERSION_LABEL, version), (policy.HASH_LABEL, model_hash[:12])])),
         ("includeSelectors", False), ("includeTemplates", True)]
    )  # fmt: skip
    labels = [entry for entry in (data.get("labels") or []) if policy.VERSION_LABEL not in entry.get("pairs", {})]
    data["labels"] = [*labels, release_labels]
    data["commonAnnotations"] = CommentedMap([(policy.HASH_ANNOTATION, model_hash)])
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def kubectl() -> str:
    """The kubectl binary (its built-in kustomize renders overlays); ManifestError when it is not installed."""
    found = shutil.which("kubectl")
    if found is None:
        raise ManifestError("kubectl is not installed: it renders the overlays (`kubectl kustomize`)")
    return found


def render_dir(directory: Path) -> str:
    """`kubectl kustomize directory`: the rendered manifests (YAML); ManifestError with kustomize's message."""
    result = subprocess.run([kubectl(), "kustomize", str(directory)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ManifestError(f"{directory} does not render: {result.stderr.strip()}")
    return result.stdout


def render(env: str, root: Path | str = ".", image: str | None = None) -> str:
    """The rendered manifests of `env`'s overlay in the working tree; with `image` (name@sha256:...), as
    a promotion to that image would render them (the kind workflow deploys a locally built image so)."""
    directory = overlay(env, root)
    if not (directory / "kustomization.yaml").exists():
        raise ManifestError(f"{directory}/kustomization.yaml is missing: every environment in params.yaml needs one")
    if image is None:
        return render_dir(directory)
    with tempfile.TemporaryDirectory(prefix="render-") as tmp:
        copy = Path(tmp) / "deploy"
        shutil.copytree(Path(root) / "deploy" / "k8s", copy / "k8s")
        target = copy / "k8s" / "overlays" / env / "kustomization.yaml"
        target.write_text(with_release(target.read_text(), image, "local", "0" * 64))
        return render_dir(target.parent)


def documents(rendered: str) -> list[dict[str, Any]]:
    """The rendered YAML stream as a list of objects."""
    import yaml

    return [doc for doc in yaml.safe_load_all(rendered) if doc]


def schema_problems(docs: list[dict[str, Any]]) -> list[str]:
    """Each object that does not validate against the Kubernetes OpenAPI schemas (KUBERNETES_VERSION, strict);
    custom resources (a ServiceMonitor) are not covered by those schemas and are skipped."""
    import kubernetes_validate

    out = []
    for doc in docs:
        if "." in str(doc.get("apiVersion", "")).split("/")[0] and doc.get("kind") == "ServiceMonitor":
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            out.append(f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}: {exc.message}")
    return out


def declared_at(rev: str, env: str) -> dict[str, str] | None:
    """What `env`'s overlay declares at git revision `rev` without rendering it: {"image", "version"}, or
    None when it declares no promoted image (or the revision has no overlay)."""
    import yaml

    from pipelines.adapters import git
    from pipelines.core import k8s_policy as policy

    text = git.show(rev, kustomization_path(env))
    if text is None:
        return None
    data = yaml.safe_load(text) or {}
    entries = data.get("images") or []
    if not entries or "digest" not in entries[0] or UNPROMOTED_COMPONENT in (data.get("components") or []):
        return None
    version = next(
        (
            e["pairs"][policy.VERSION_LABEL]
            for e in data.get("labels") or []
            if policy.VERSION_LABEL in e.get("pairs", {})
        ),
        "",
    )
    return {"image": f"{entries[0].get('newName', entries[0]['name'])}@{entries[0]['digest']}", "version": str(version)}
