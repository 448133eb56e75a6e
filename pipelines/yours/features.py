"""Preprocessing: how raw columns become model inputs."""

from __future__ import annotations

from collections.abc import Sequence

from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def build_preprocessor(numeric: Sequence[str], categorical: Sequence[str]) -> ColumnTransformer:
    """Impute and scale numeric columns; impute and one-hot encode categorical ones.

    Imputers are there for data that allows missing values; on data the schema keeps complete
    they are a no-op. Unknown categories at prediction time are ignored, not an error.
    """
    transformers: list[tuple[str, Pipeline, list[str]]] = []
    if numeric:
        numeric_steps = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
        transformers.append(("numeric", numeric_steps, list(numeric)))
    if categorical:
        categorical_steps = Pipeline(
            [
                ("impute", SimpleImputer(strategy="most_frequent")),
                ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
            ]
        )
        transformers.append(("categorical", categorical_steps, list(categorical)))
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)
