"""The packaged model: MLflow model format, serialised with skops, loaded through our allow-list.

Two things MLflow does not give us are added here:
- byte-stable output: the same fitted model always produces the same directory (skops names its
  array files after object ids and stamps zip entries with the time; MLflow writes a random uuid
  and a timestamp), so `dvc.lock` reproduces and an unchanged retrain is recognised as a no-op;
- a loader that trusts only this project's allow-list (skops' defaults, BASE_TRUSTED_TYPES and the
  `trusted_types` of each estimator in pipelines/yours/estimators.py), not the types listed in the
  model's own MLmodel file (which whoever wrote the directory controls).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines.adapters import files
from pipelines.adapters.params import load_paths
from pipelines.errors import PipelineError

# Beyond skops' defaults, every estimator's model may hold these; the rest come from the estimator list.
# Review any addition: loading a type runs its constructor.
BASE_TRUSTED_TYPES: tuple[str, ...] = ("numpy.dtype",)
MODEL_FILE = "model.skops"
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


class UntrustedModelError(PipelineError, RuntimeError):
    """A model is not skops, or contains types outside the project's allow-list."""


def _renumber(node: Any, ids: dict[int, int]) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "__id__" and isinstance(value, int):
                value = ids.setdefault(value, len(ids))
            elif key == "file" and isinstance(value, str) and value.endswith(".npy"):
                old = int(value[: -len(".npy")])
                value = f"{ids.setdefault(old, len(ids))}.npy"
            out[key] = _renumber(value, ids)
        return out
    if isinstance(node, list):
        return [_renumber(v, ids) for v in node]
    return node


def canonical_skops(raw: bytes) -> bytes:
    """Rewrite a skops archive so that equal models give equal bytes.

    Object ids become sequence numbers in order of first appearance (ids are only memo keys, so
    the mapping keeps shared references shared) and zip entries get a fixed timestamp.
    """
    source = zipfile.ZipFile(io.BytesIO(raw))
    ids: dict[int, int] = {}
    schema = _renumber(json.loads(source.read("schema.json")), ids)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        entries = {"schema.json": json.dumps(schema, indent=2).encode()}
        for info in source.infolist():
            if info.filename.endswith(".npy"):
                entries[f"{ids[int(info.filename[:-4])]}.npy"] = source.read(info)
        for name in sorted(entries):
            target.writestr(zipfile.ZipInfo(name, date_time=_ZIP_EPOCH), entries[name], zipfile.ZIP_STORED)
    return out.getvalue()


def trusted_types() -> tuple[str, ...]:
    """The allow-list: BASE_TRUSTED_TYPES and every registered estimator's `trusted_types`, sorted."""
    from pipelines.adapters.params import estimators

    return tuple(sorted({*BASE_TRUSTED_TYPES, *(t for e in estimators().values() for t in e.trusted_types)}))


def _untrusted(model_file: Path | None = None, data: bytes | None = None) -> list[str]:
    import skops.io as sio

    found = sio.get_untrusted_types(file=model_file) if model_file else sio.get_untrusted_types(data=data)
    return sorted(set(found) - set(trusted_types()))


def file_hashes(directory: str | os.PathLike[str]) -> dict[str, str]:
    """sha256 of every file under `directory`, by relative path."""
    root = Path(directory)
    hashes = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        with path.open("rb") as handle:
            hashes[path.relative_to(root).as_posix()] = hashlib.file_digest(handle, "sha256").hexdigest()
    return hashes


def content_hash(directory: str | os.PathLike[str]) -> str:
    """sha256 over every file's relative path and hash: the model's identity."""
    digest = hashlib.sha256()
    for name, file_digest in file_hashes(directory).items():
        digest.update(name.encode() + b"\0" + bytes.fromhex(file_digest))
    return digest.hexdigest()


def manifest(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """What git records about a model directory: its content hash and each file's hash.

    Deterministic (no times, no paths outside the directory), so it is committed next to
    dvc.lock and changes exactly when the model does.
    """
    return {"content_hash": content_hash(directory), "files": file_hashes(directory)}


def verify(directory: str | os.PathLike[str], recorded: dict[str, Any]) -> str:
    """Check a model directory against its manifest before anything is loaded; return the hash.

    Raises UntrustedModelError naming every added, missing or changed file.
    """
    expected = recorded.get("files") if isinstance(recorded, dict) else None
    if not isinstance(expected, dict) or not expected:
        raise UntrustedModelError("the model manifest has no file list")
    actual = file_hashes(directory)
    problems = [f"changed: {n}" for n in sorted(expected) if n in actual and actual[n] != expected[n]]
    problems += [f"missing: {n}" for n in sorted(set(expected) - set(actual))]
    problems += [f"unexpected: {n}" for n in sorted(set(actual) - set(expected))]
    if problems:
        raise UntrustedModelError(f"{directory} does not match its manifest ({'; '.join(problems)})")
    digest = content_hash(directory)
    if digest != recorded.get("content_hash"):
        raise UntrustedModelError(f"{directory}: content hash {digest[:12]} differs from the manifest's")
    return digest


def save(
    model: Any,
    directory: str | os.PathLike[str],
    input_example: pd.DataFrame,
    signature_sample: pd.DataFrame | None = None,
) -> str:
    """Save a fitted scikit-learn model in MLflow format, atomically; return its content hash (sha256 hex).

    The signature's column types come from `signature_sample` (model inputs, rows x columns; default: the
    example), so a column the few example rows leave empty is still typed. Raises UntrustedModelError,
    writing nothing, when the model holds types outside the allow-list.
    """
    import mlflow.sklearn
    import skops.io as sio
    from mlflow.models import Model, infer_signature

    raw = canonical_skops(sio.dumps(model))
    extra = _untrusted(data=raw)
    if extra:
        raise UntrustedModelError(
            f"the model needs types outside the allow-list: {', '.join(extra)}; review them and, if they are "
            "safe, list them in the estimator's `trusted_types` in pipelines/yours/estimators.py"
        )
    import skops

    needed = sorted(set(sio.get_untrusted_types(data=raw)))
    prediction = model.predict(input_example)
    uuid = hashlib.sha256(raw).hexdigest()[:32]
    requirements = [
        f"mlflow=={mlflow.__version__}",
        f"scikit-learn=={__import__('sklearn').__version__}",
        f"skops=={skops.__version__}",
        f"pandas=={pd.__version__}",
        f"numpy=={__import__('numpy').__version__}",
    ]
    # MLflow warns that it cannot find pip (uv venvs have none) while writing conda.yaml; we pin
    # the requirements explicitly, so the warning is noise in every stage's output.
    env_logger = logging.getLogger("mlflow.utils.environment")
    level = env_logger.level
    env_logger.setLevel(logging.ERROR)
    with contextlib.ExitStack() as stack:
        stack.callback(env_logger.setLevel, level)
        tmp = stack.enter_context(files.atomic_dir(directory))
        mlflow.sklearn.save_model(
            model,
            str(tmp),
            serialization_format="skops",
            skops_trusted_types=needed,
            signature=infer_signature(
                input_example if signature_sample is None else signature_sample,
                prediction if signature_sample is None else model.predict(signature_sample),
            ),
            input_example=input_example,
            pip_requirements=requirements,
            # fixed identity fields: same model, same bytes
            mlflow_model=Model(utc_time_created="1970-01-01 00:00:00", model_uuid=uuid),
        )
        (tmp / MODEL_FILE).write_bytes(raw)
        for example in ("input_example.json", "serving_input_example.json"):
            _null_for_nan(tmp / example)
        meta = Model.load(str(tmp))
        meta.model_size_bytes = sum(p.stat().st_size for p in tmp.rglob("*") if p.is_file() and p.name != "MLmodel")
        meta.save(str(tmp / "MLmodel"))
        digest = content_hash(tmp)
    return digest


def _without_nan(node: Any) -> Any:
    if isinstance(node, float) and node != node:
        return None
    if isinstance(node, dict):
        return {key: _without_nan(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_without_nan(value) for value in node]
    return node


def _null_for_nan(path: Path) -> None:
    """Rewrite an input example that MLflow wrote with the token NaN (not JSON: curl, browsers and strict
    parsers refuse it) with null, which MLflow and the service read as a missing value."""
    if not path.exists() or b"NaN" not in (raw := path.read_bytes()):
        return
    indent = 2 if raw.startswith(b"{\n") else None
    path.write_text(json.dumps(_without_nan(json.loads(raw)), indent=indent, allow_nan=False))


def load(directory: str | os.PathLike[str]) -> Any:
    """Load a model saved by `save`, trusting only skops and the project's allow-list.

    Raises UntrustedModelError, before any object is built, for another format or an untrusted type.
    """
    import skops.io as sio
    import yaml

    root = Path(directory)
    try:
        meta = yaml.safe_load((root / "MLmodel").read_text())
        flavor = meta["flavors"]["sklearn"]
    except (OSError, KeyError, TypeError, yaml.YAMLError) as exc:
        raise UntrustedModelError(f"{root}: not an MLflow scikit-learn model ({exc})") from None
    if flavor.get("serialization_format") != "skops" or flavor.get("pickled_model") != MODEL_FILE:
        raise UntrustedModelError(
            f"{root}: serialised as {flavor.get('serialization_format')!r}; only skops models are loaded"
        )
    model_file = root / MODEL_FILE
    try:
        extra = _untrusted(model_file=model_file)
    except Exception as exc:  # skops raises several types for a corrupt archive
        raise UntrustedModelError(f"{model_file}: not a readable skops file ({exc})") from None
    if extra:
        raise UntrustedModelError(f"{model_file}: contains types outside the allow-list: {', '.join(extra)}")
    return sio.load(model_file, trusted=list(trusted_types()))


def workspace_model() -> tuple[Path, str]:
    """The workspace's model directory, verified against the workspace's manifest (local use only)."""
    paths = load_paths()
    model_dir = Path(paths["model"])
    return model_dir, verify(model_dir, json.loads(Path(paths["manifest"]).read_text()))
