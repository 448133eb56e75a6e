"""The data contract: pandera schemas for the raw data and the model's inputs; the target; the task.

This is the file a forked project edits first (`python -m pipelines init --dataset` writes a
starting one for your own data). The code reads it once, as a pipelines.core.contract.Contract;
how data is checked against it lives in pipelines/core/validation.py.
Bounds are deliberately loose (about twice the largest value in the reference data) so that they
catch unit mix-ups, corrupt rows and infinities without rejecting honest new data.
"""

from __future__ import annotations

from typing import Any

import pandera.pandas as pa
from pandera.typing import Series

from pipelines.core.tasks import Task

TARGET = "malignant"
"""Label column: 1 = malignant tumour (the positive class), 0 = benign."""
TASK: Task = "binary"
"""binary (the larger label is the positive class), multiclass or regression: picks estimators and metrics."""

SOURCES: dict[str, str] = {
    "fna_image": "nucleus measurements computed from a digitised fine-needle aspirate image "
    "(UCI Breast Cancer Wisconsin (Diagnostic); owner: the imaging lab)",
}
"""Approved upstream sources of model inputs: name -> what produces it and who owns it."""
DENIED: dict[str, str] = {}
"""Columns that must never be model inputs, with the reason (identifiers, protected attributes, leaky columns):
e.g. {"patient_id": "identifier: unique per patient, predicts nothing that generalises"}."""


def _measure(le: float) -> Any:
    return pa.Field(ge=0.0, le=le, nullable=False, metadata={"source": "fna_image", "privacy": "public"})


class Features(pa.DataFrameModel):
    """Model inputs: 30 non-negative measurements of a cell-nucleus image."""

    mean_radius: Series[float] = _measure(60)
    mean_texture: Series[float] = _measure(80)
    mean_perimeter: Series[float] = _measure(400)
    mean_area: Series[float] = _measure(6000)
    mean_smoothness: Series[float] = _measure(0.4)
    mean_compactness: Series[float] = _measure(0.7)
    mean_concavity: Series[float] = _measure(0.9)
    mean_concave_points: Series[float] = _measure(0.5)
    mean_symmetry: Series[float] = _measure(0.7)
    mean_fractal_dimension: Series[float] = _measure(0.2)
    radius_error: Series[float] = _measure(6)
    texture_error: Series[float] = _measure(10)
    perimeter_error: Series[float] = _measure(50)
    area_error: Series[float] = _measure(2000)
    smoothness_error: Series[float] = _measure(0.07)
    compactness_error: Series[float] = _measure(0.3)
    concavity_error: Series[float] = _measure(0.8)
    concave_points_error: Series[float] = _measure(0.2)
    symmetry_error: Series[float] = _measure(0.2)
    fractal_dimension_error: Series[float] = _measure(0.06)
    worst_radius: Series[float] = _measure(80)
    worst_texture: Series[float] = _measure(100)
    worst_perimeter: Series[float] = _measure(600)
    worst_area: Series[float] = _measure(9000)
    worst_smoothness: Series[float] = _measure(0.5)
    worst_compactness: Series[float] = _measure(3)
    worst_concavity: Series[float] = _measure(3)
    worst_concave_points: Series[float] = _measure(0.6)
    worst_symmetry: Series[float] = _measure(2)
    worst_fractal_dimension: Series[float] = _measure(0.5)

    class Config:
        strict = True
        coerce = True


class RawData(Features):
    """A labelled row: the features plus the target."""

    malignant: Series[int] = pa.Field(isin=[0, 1], nullable=False, metadata={"privacy": "public"})

    class Config:
        strict = True
        coerce = True
