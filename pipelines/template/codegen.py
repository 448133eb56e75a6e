"""Writing the project's data contract: pipelines/yours/schema.py for the inferred columns."""

from __future__ import annotations

from pathlib import Path

from pipelines.template.infer import MAX_CATEGORIES, Inferred, source_name

SCHEMA_TEMPLATE = '''"""The data contract: pandera schemas for the raw data and the model inputs; the target; the task.

Written by `python -m pipelines init` from {source} ({rows} rows): a starting point to review.
- Bounds are loose on purpose (the observed range widened by its width on each side; 0 stays the
  floor of non-negative columns), so they catch unit mix-ups and corrupt rows, not honest new data.
- Text columns are categorical; with at most {max_categories} distinct values they list them (`isin`),
  so a new category fails validation until you add it here.
- `nullable` is True where the sample had missing values; the default preprocessing imputes them.
- Each field's `metadata` gives its `privacy` (public, internal or personal: a personal column's raw values
  never reach a log, a report or a profile) and, for an input, its `source` (a key of SOURCES); `train`
  refuses an input on DENIED or without an approved source. Review both: init only guessed from names.
The code reads this file once, as a pipelines.core.contract.Contract; how data is checked against it
lives in pipelines/core/validation.py.
"""

from __future__ import annotations

import pandera.pandas as pa
{extra_imports}from pandera.typing import Series

from pipelines.core.tasks import Task

TARGET = {target}
"""{target_doc}"""
TASK: Task = "{task}"
"""binary (the larger label is the positive class), multiclass or regression: picks estimators and metrics."""

SOURCES: dict[str, str] = {sources}
"""Approved upstream sources of model inputs: name -> what produces it and who owns it (say where it comes from)."""
DENIED: dict[str, str] = {denied}
"""Columns that must never be model inputs, with the reason (identifiers, protected attributes, leaky columns)."""


class Features(pa.DataFrameModel):
    """Model inputs: {n_numeric} numeric and {n_categorical} categorical column(s)."""

{feature_fields}

    class Config:
        strict = True
        coerce = True


class RawData(Features):
    """A labelled row: the features, {others_doc}the target."""

{other_fields}{target_field}

    class Config:
        strict = True
        coerce = True
'''


def _docstring(text: str) -> str:
    """`text` safe inside a triple-quoted docstring: backslashes, quotes and control characters escaped."""
    return repr(text)[1:-1].replace('"', '\\"')


def render_schema(inferred: Inferred, task: str, source: str, rows: int) -> str:
    """The source of pipelines/yours/schema.py for these columns (`source`: the dataset's file name)."""
    features, target, others = inferred.features, inferred.target, inferred.others
    if others:
        lines = "\n".join(
            f"    # {c.name!r}: {inferred.reasons.get(c.name, 'left out')}\n"
            f"    # to use it, move it to Features{' and delete it from DENIED' if c.name in inferred.denied else ''}"
            f"\n{c.field_code()}"
            for c in others
        )
        other_fields, others_doc = lines + "\n", "columns kept in the data but not used as inputs, and "
    else:
        other_fields, others_doc = "", "plus "
    if task == "regression":
        doc = f"The number to predict ({target.name})."
    elif task == "binary":
        doc = f"The label to predict: {target.categories!r}; the positive class is {target.categories[-1]!r}."  # type: ignore[index]
    else:
        doc = f"The label to predict, one of {len(target.categories or [])} classes."
    return SCHEMA_TEMPLATE.format(
        source=source,
        rows=rows,
        max_categories=MAX_CATEGORIES,
        target=repr(str(target.name)),
        target_doc=_docstring(doc),
        task=task,
        n_numeric=sum(c.kind == "float" for c in features),
        n_categorical=sum(c.kind == "str" for c in features),
        feature_fields="\n".join(c.field_code(source_name(source)) for c in features),
        sources=repr({source_name(source): f"the table init read ({source})"}),
        denied=("{" + "".join(f"\n    {k!r}: {v!r}," for k, v in inferred.denied.items()) + "\n}")
        if inferred.denied
        else "{}",
        other_fields=other_fields,
        extra_imports=(
            "from pandera.engines.pandas_engine import DateTime\n"
            if any(c.kind == "datetime" for c in [*features, *others])
            else ""
        ),
        others_doc=others_doc,
        target_field=target.field_code(),
    )


def formatted(code: str, root: Path) -> str:
    """`code` as `ruff format` writes it (the project's own style), when ruff is installed."""
    import shutil
    import subprocess
    import sys

    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        return code
    result = subprocess.run(
        [ruff, "format", "--stdin-filename", "pipelines/yours/schema.py", "-"],
        input=code,
        text=True,
        capture_output=True,
        cwd=root,
        check=False,
    )
    return result.stdout if result.returncode == 0 else code
