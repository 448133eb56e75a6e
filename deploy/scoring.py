"""Turning model input into probabilities, fast and safely: a verified model with a fast path.

`Bundle`: a verified model with a fast path that feeds NumPy arrays through the fitted transformers (no
DataFrame), checked at load time to give exactly the slow path's answer. The request side (JSON, formats,
the input contract) is deploy/payload.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deploy.payload import InputSpec, loads
from pipelines.core.estimators import FastPath
from pipelines.core.fastpath import CompiledPipeline
from pipelines.core.names import shown


@dataclass
class Bundle:
    """A loaded, verified model and its version labels (what /version reports: model_version, model_hash,
    git_commit, data_hash)."""

    model: Any
    classes: np.ndarray | None  # None for a regressor
    labels: dict[str, str]
    input_spec: InputSpec
    fast: CompiledPipeline | None = None

    def output(self, matrix: np.ndarray) -> np.ndarray:
        """Class probabilities (rows x classes) for a classifier, predicted values for a regressor."""
        if self.fast is not None:
            return self.fast(matrix)
        return self.slow_output(matrix)

    def slow_output(self, matrix: np.ndarray) -> np.ndarray:
        """The reference path: the whole pipeline on a DataFrame, as MLflow's pyfunc would run it."""
        import pandas as pd

        frame = pd.DataFrame(matrix, columns=list(self.input_spec.names))
        if self.classes is None:
            return np.asarray(self.model.predict(frame), dtype=np.float64)
        return np.asarray(self.model.predict_proba(frame))


def build_bundle(
    model: Any,
    input_spec: InputSpec,
    labels: Mapping[str, str],
    probe: list[list[Any]],
    fast_paths: Sequence[FastPath] = (),
) -> Bundle:
    """Wrap a fitted pipeline; enable the fast path only if it matches the DataFrame path on `probe`
    (`fast_paths`: ModelStore.fast_paths, for the estimator; without them the estimator's own method)."""
    classes = getattr(model, "classes_", None)
    bundle = Bundle(
        model=model,
        classes=None if classes is None else np.asarray(classes),
        labels=dict(labels),
        input_spec=input_spec,
    )
    try:
        fast = CompiledPipeline(model, input_spec.names, input_spec.numeric, fast_paths)
        matrix = input_spec.to_matrix([list(row) for row in probe])
        if np.allclose(fast(matrix), bundle.slow_output(matrix), rtol=0, atol=1e-9, equal_nan=True):
            bundle.fast = fast
    except Exception:  # a probe that fails disables the fast path, never the model
        pass  # a pipeline of another shape, or a probe the fast path cannot take: the DataFrame path works
    return bundle


@dataclass(frozen=True)
class ModelStore:
    """What the service needs from the project to load a model, handed in by whoever starts it
    (pipelines.jobs.serve.model_store): `verify(directory, manifest)` raises unless the files match their
    hashes; `load(directory)` returns the fitted pipeline (no pickle); `fast_paths` compile known estimators."""

    verify: Callable[[Path, dict[str, Any]], Any]
    load: Callable[[Path], Any]
    fast_paths: Sequence[FastPath] = ()


def load_bundle(
    model_dir: Path, manifest: Mapping[str, Any], labels: Mapping[str, str], input_spec: InputSpec, store: ModelStore
) -> Bundle:
    """Verify the model directory against its manifest, load it through the store, wrap it; ValueError when the
    model takes other input columns than `spec`."""
    store.verify(model_dir, dict(manifest))
    model = store.load(model_dir)
    example = loads((model_dir / "input_example.json").read_bytes())
    columns, data = example["columns"], example["data"]
    if sorted(columns) != sorted(input_spec.names):
        missing, extra = sorted(set(input_spec.names) - set(columns)), sorted(set(columns) - set(input_spec.names))
        raise ValueError(
            "the model was trained on other input columns than the contract's"
            + (f"; it lacks {', '.join(map(shown, missing[:5]))}" if missing else "")
            + (f"; it also takes {', '.join(map(shown, extra[:5]))}" if extra else "")
        )
    probe = [[row[columns.index(name)] for name in input_spec.names] for row in data]
    return build_bundle(model, input_spec, labels, probe, store.fast_paths)
