"""The data contract as the code uses it: one object, built from a schema, passed explicitly.

The project declares its contract in pipelines/yours/schema.py (pandera models `Features` and
`RawData`, `TARGET`, `TASK`); `Contract.from_module` reads that module, and `init` builds one
directly from the schemas it infers. Nothing reads the contract from a module global.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pandas as pd
import pandera.pandas as pa

from pipelines.core.tasks import TASKS


@dataclass(frozen=True)
class Contract:
    """What the data is: the labelled rows' schema, the model inputs' schema, the target and the task.

    `raw` validates a labelled row (features and target); `inputs` the features alone, in model
    input order. Both are pandera DataFrameSchemas (strict and coercing, as the project declares).
    """

    raw: pa.DataFrameSchema
    inputs: pa.DataFrameSchema
    target: str
    task: str

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"TASK = {self.task!r}: one of {', '.join(TASKS)}")
        if self.target not in self.raw.columns:
            raise ValueError(f"TARGET = {self.target!r} is not a column of the raw schema")
        if self.target in self.inputs.columns:
            raise ValueError(f"TARGET = {self.target!r} must not be a model input")

    @classmethod
    def from_module(cls, module: ModuleType) -> Contract:
        """The contract a schema module declares (`Features`, `RawData`, `TARGET`, `TASK`)."""
        missing = [name for name in ("Features", "RawData", "TARGET", "TASK") if not hasattr(module, name)]
        if missing:
            raise ValueError(f"{module.__name__} does not define {', '.join(missing)}")
        return cls(module.RawData.to_schema(), module.Features.to_schema(), str(module.TARGET), str(module.TASK))

    @property
    def features(self) -> list[str]:
        """Model input columns, in order."""
        return [str(name) for name in self.inputs.columns]

    @property
    def numeric(self) -> list[str]:
        """Input columns of a numeric dtype (imputed and scaled)."""
        return [str(n) for n, col in self.inputs.columns.items() if pd.api.types.is_numeric_dtype(str(col.dtype))]

    @property
    def categorical(self) -> list[str]:
        """Input columns of any other dtype (imputed and one-hot encoded)."""
        numeric = set(self.numeric)
        return [name for name in self.features if name not in numeric]

    def column(self, name: str) -> Any:
        """The pandera Column of a raw column (its dtype, nullability and checks)."""
        return self.raw.columns[name]
