"""The data contract as the code uses it: one object, built from a schema, passed explicitly.

The project declares its contract in pipelines/yours/schema.py (pandera models `Features` and
`RawData`, `TARGET`, `TASK`, the approved `SOURCES` and the `DENIED` columns); `Contract.from_module` reads
that module, and `init` builds one directly from the schemas it infers. Nothing reads the contract from a
module global.

Each raw column carries pandera metadata: `privacy` (one of PRIVACY: who may see its raw values; a
`personal` column's values never leave the data and the model, see docs/OPERATIONS.md "Privacy") and, for a
model input, `source` (the approved upstream system that produces it, a key of SOURCES).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pandas as pd
import pandera.pandas as pa

from pipelines.core.tasks import TASKS
from pipelines.errors import PipelineError

PRIVACY = ("public", "internal", "personal")
"""Sensitivity tags, least to most restricted: public (may be published), internal (the team's reports and logs),
personal (about a person: dropped from every log, report and profile; only aggregates over many rows leave)."""


class ContractError(PipelineError, ValueError):
    """The contract breaks its own rules: an untagged column, an input on the deny-list or without a source."""


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
    sources: Mapping[str, str] = field(default_factory=dict)  # approved upstream sources: name -> description
    denied: Mapping[str, str] = field(default_factory=dict)  # never a model input: column -> the reason

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"TASK = {self.task!r}: one of {', '.join(TASKS)}")
        if self.target not in self.raw.columns:
            raise ValueError(f"TARGET = {self.target!r} is not a column of the raw schema")
        if self.target in self.inputs.columns:
            raise ValueError(f"TARGET = {self.target!r} must not be a model input")
        wrong = {str(n): c.metadata.get("privacy") for n, c in self.raw.columns.items() if c.metadata}
        wrong = {n: tag for n, tag in wrong.items() if tag is not None and tag not in PRIVACY}
        if wrong:
            shown = ", ".join(f"{n} ({t!r})" for n, t in wrong.items())
            raise ContractError(f"privacy tag not one of {', '.join(PRIVACY)}: {shown}")
        if self.privacy(self.target) == "personal":  # every report, plot and the feedback log are built on it
            raise ContractError(
                f"TARGET = {self.target!r} is tagged personal, but its values are what the holdout plots, the recorded "
                "outputs and the feedback log are made of: tag it internal (docs/OPERATIONS.md, Privacy)"
            )

    @classmethod
    def from_module(cls, module: ModuleType) -> Contract:
        """The contract a schema module declares (`Features`, `RawData`, `TARGET`, `TASK`)."""
        names = ("Features", "RawData", "TARGET", "TASK", "SOURCES", "DENIED")
        missing = [name for name in names if not hasattr(module, name)]
        if missing:
            raise ValueError(f"{module.__name__} does not define {', '.join(missing)} (docs/FORKING.md, New keys)")
        raw = module.RawData.to_schema()
        untagged = [str(n) for n, c in raw.columns.items() if (c.metadata or {}).get("privacy") is None]
        if untagged:
            raise ContractError(
                f"{module.__name__}: no privacy tag on {', '.join(untagged)}: give each field "
                f"metadata={{'privacy': ...}}, one of {', '.join(PRIVACY)}"
            )
        return cls(
            raw, module.Features.to_schema(), str(module.TARGET), str(module.TASK),
            {str(k): str(v) for k, v in module.SOURCES.items()}, {str(k): str(v) for k, v in module.DENIED.items()},
        )  # fmt: skip

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

    def privacy(self, name: str) -> str:
        """A raw column's sensitivity tag (PRIVACY); `internal` for a column built without one (tests' contracts)."""
        column = self.raw.columns.get(name)
        return str(((column.metadata if column is not None else None) or {}).get("privacy", "internal"))

    @property
    def personal(self) -> list[str]:
        """Raw columns tagged `personal`, in schema order: their raw values never leave the data and the model."""
        return [str(n) for n in self.raw.columns if self.privacy(str(n)) == "personal"]

    @property
    def personal_inputs(self) -> list[str]:
        """Model inputs tagged `personal`, in input order: the model sees them; the prediction log, the drift
        reference and monitoring leave them out."""
        return [name for name in self.features if self.privacy(name) == "personal"]

    def input_violations(self) -> list[str]:
        """The meta-level rules the model inputs break (ML Test Score, data 4), one line each naming the column
        and the reason: an input on the deny-list (DENIED), an input without a `source`, or with a source not in
        SOURCES. [] when every input may be one."""
        found = []
        for name in self.features:
            source = (self.inputs.columns[name].metadata or {}).get("source")
            if name in self.denied:
                found.append(f"{name} is on the deny-list (DENIED): {self.denied[name]}")
            elif source is None:
                found.append(f"{name} declares no upstream source (metadata 'source', one of SOURCES)")
            elif source not in self.sources:
                approved = ", ".join(sorted(self.sources)) or "none"
                found.append(f"{name}: source {source!r} is not an approved source (SOURCES: {approved})")
        return found

    def check_inputs(self) -> None:
        """ContractError listing every input_violations() line, or nothing."""
        found = self.input_violations()
        if found:
            raise ContractError("the model inputs break the contract's rules (pipelines/yours/schema.py):\n  " +
                                "\n  ".join(found))  # fmt: skip
