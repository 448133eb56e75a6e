"""Reading the user's table: the task its target implies, and a starting contract for its columns."""

from __future__ import annotations

import keyword
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

from pipelines.core.contract import Contract
from pipelines.core.privacy import MIN_GROUP_ROWS
from pipelines.errors import PipelineError

MAX_CLASSES = 50  # more distinct labels than this is not a classification target we guess at
MAX_CATEGORIES = 50  # a text column with more distinct values gets no `isin` check
ID_SHARE = 0.95  # a text column with at least this share of distinct values per row is an identifier
ID_NAME = re.compile(r"(^|[^a-z])(id|uuid|guid|key)($|[^a-z])|_id$|^id_", re.I)
# names of attributes people are commonly protected on (equality law's usual list), as whole words: init keeps
# them beside the inputs (evaluate.sensitive judges the model on their groups) and on the deny-list
SENSITIVE_NAME = re.compile(
    r"(^|[^a-z])(sex|gender|age|race|racial|ethnic\w*|religio\w*|nationality|citizenship|disab\w*|marital|"
    r"pregnan\w*|orientation|veteran|caste)($|[^a-z])",
    re.I,
)
# names of data about a person (contact details, exact location, birth date, government numbers): tagged personal
PERSONAL_NAME = re.compile(
    r"(^|[^a-z])(name|first_?name|last_?name|surname|e_?mail|phone|mobile|address|street|zip|zip_?code|postcode|"
    r"postal_?code|birth\w*|dob|ssn|passport|licen[cs]e|ip|ip_?address|latitude|longitude|lat|lon|lng|salary|"
    r"income)($|[^a-z])",
    re.I,
)
DENY_REASONS = {
    "identifier": "an identifier: one value per row, predicts nothing that generalises",
    "timestamp": "a timestamp: its values never recur (derive features from it instead)",
    "sensitive": "a protected attribute (by its name): judged by evaluate.sensitive, not an input",
}
# Strings pandas reads as missing by default; init keeps them as values and says where it saw them.
MISSING_MARKERS = frozenset({"NA", "N/A", "n/a", "NaN", "nan", "null", "NULL", "None", "none", "#N/A", "-", "?", "."})
# Column names that the generated pandera DataFrameModel (or Python) would read as its own attributes.
RESERVED = frozenset(name.lower() for name in dir(pa.DataFrameModel)) | {"config", "series", "pa", "index"}


class InitError(PipelineError, ValueError):
    """init cannot run: bad options or data, or a repository that has diverged from the template."""


def infer_task(target: pd.Series) -> str:
    """binary for two labels, multiclass for a few, regression for a number with many values."""
    values = target.dropna()
    distinct = values.nunique()
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    whole = numeric and bool(np.all(np.mod(values.to_numpy(dtype=float), 1) == 0))
    if distinct < 2:
        raise InitError(f"target column {target.name!r} has {distinct} distinct value(s): nothing to learn")
    if numeric and (not whole or distinct > 20):
        return "regression"
    if distinct == 2:
        return "binary"
    if distinct > MAX_CLASSES:
        raise InitError(
            f"target column {target.name!r} has {distinct} distinct labels; pass --task regression if it is a "
            "number, or group the labels first"
        )
    return "multiclass"


@dataclass(frozen=True)
class Column:
    """One column of the contract: how it is declared in the generated schema."""

    name: str
    attribute: str  # a Python identifier; `alias` carries the real name when they differ
    kind: str  # "float", "int", "str" or "datetime"
    nullable: bool
    low: float | None = None
    high: float | None = None
    categories: list[Any] | None = None
    privacy: str = "internal"  # pipelines.core.contract.PRIVACY

    def metadata(self, source: str | None) -> dict[str, str]:
        """The field's pandera metadata: its upstream `source` (model inputs) and its `privacy` tag."""
        return {**({"source": source} if source else {}), "privacy": self.privacy}

    def field_code(self, source: str | None = None) -> str:
        """The `pa.Field(...)` line that declares this column in the generated schema (`source`: for an input)."""
        # repr of a str, never json.dumps: JSON writes an emoji as two surrogate escapes, which Python reads as
        # two broken characters
        args = [f"alias={str(self.name)!r}"] if self.attribute != self.name else []
        if self.categories is not None:
            args.append(f"isin={[str(c) if isinstance(c, str) else int(c) for c in self.categories]!r}")
        if self.low is not None:
            args.append(f"ge={_num(self.low)}")
        if self.high is not None:
            args.append(f"le={_num(self.high)}")
        args.append(f"nullable={self.nullable}")
        if self.kind == "datetime":  # files, batches and sources write timestamps in more than one format
            args.append('dtype_kwargs={"to_datetime_kwargs": {"format": "mixed"}}')
        args.append(f"metadata={self.metadata(source)!r}")
        kind = "DateTime" if self.kind == "datetime" else self.kind
        return f"    {self.attribute}: Series[{kind}] = pa.Field({', '.join(args)})"


def _num(value: float) -> str:
    return repr(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value))


def _outward(value: float, up: bool) -> float:
    """Round to 3 significant digits, away from the data (up for an upper bound)."""
    if value == 0 or not math.isfinite(value):
        return value
    scale = 10 ** (math.floor(math.log10(abs(value))) - 2)
    return float(f"{(math.ceil if up else math.floor)(value / scale) * scale:.6g}")


def _bounds(values: pd.Series) -> tuple[float, float]:
    """Loose bounds: the observed range widened by its width on each side; 0 stays the floor of
    non-negative data. They catch unit mix-ups and corrupt rows, not honest new values."""
    low, high = float(values.min()), float(values.max())
    width = max(high - low, abs(high), 1.0)
    lower = 0.0 if low >= 0 else _outward(low - width, up=False)
    return lower, _outward(high + width, up=True)


def _attribute(name: str, taken: set[str]) -> str:
    """A Python identifier for a column (the schema field; `alias` keeps the real name): not a keyword and
    not an attribute of pandera's DataFrameModel, unique among the columns."""
    chars = (c if f"a{c}".isidentifier() else "_" for c in str(name).strip().lower())  # e.g. "²" is \w, not valid
    base = re.sub(r"_+", "_", "".join(chars)).strip("_") or "column"
    if not base.isidentifier() or keyword.iskeyword(base) or base in RESERVED:
        base = f"c_{base}"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    taken.add(candidate)
    return candidate


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def check_names(names: list[Any]) -> None:
    """Refuse, in one line, column names that cannot be told apart (empty ones and duplicates) or that hold a
    control character such as NUL (NumPy's text arrays, which scikit-learn indexes columns with, drop it)."""
    empty = [i + 1 for i, name in enumerate(names) if not str(name).strip()]
    if empty:
        raise InitError(f"column(s) {', '.join(map(str, empty))} (counting from 1) have no name: name them first")
    control = [i + 1 for i, name in enumerate(names) if any(ord(c) < 32 or ord(c) == 127 for c in str(name))]
    if control:
        raise InitError(f"column(s) {', '.join(map(str, control))} (counting from 1) have a control character "
                        "(NUL, a tab or a line break) in their name: rename them first")  # fmt: skip
    seen: dict[str, int] = {}
    for name in map(str, names):
        seen[name] = seen.get(name, 0) + 1
    twice = [name for name, count in seen.items() if count > 1]
    if twice:
        raise InitError(f"column name(s) used more than once: {', '.join(map(repr, twice))}: rename them first")


HUGE = 1e150  # beyond this a value's square overflows float64: no model can compute with it


def check_numbers(frame: pd.DataFrame) -> None:
    """Refuse, in one line, numeric columns holding infinities or values too large to compute with (|x| > HUGE):
    they would crash the first fit. Names the columns and the rows (counting data rows from 1), never a value."""
    bad = []
    for name in frame.columns:
        column = frame[name]
        if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            continue
        values = column.to_numpy(dtype=float, na_value=np.nan)
        rows = np.flatnonzero(np.isinf(values) | (np.abs(np.nan_to_num(values)) > HUGE))
        if len(rows):
            bad.append(f"{name!r} ({len(rows)} row(s), e.g. row {rows[0] + 1})")
    if bad:
        raise InitError(f"infinite or too large numbers (beyond ±{HUGE:g}) in {', '.join(bad)}: fix or drop those "
                        "rows (or rescale the column) first")  # fmt: skip


def almost_numbers(frame: pd.DataFrame, share: float = 0.9) -> dict[str, tuple[int, int]]:
    """Text columns whose cells are numbers except a few: column -> (cells that are not numbers, first such row,
    counting data rows from 1), when at least `share` of the present cells parse as numbers."""
    found = {}
    for name in frame.columns:
        column = frame[name].dropna()
        if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column) or column.empty:
            continue
        parsed = pd.to_numeric(column.astype(str), errors="coerce")
        stray = parsed.isna()
        if stray.sum() > 0 and parsed.notna().mean() >= share:
            found[str(name)] = (int(stray.sum()), int(frame.index.get_loc(stray.idxmax())) + 1)
    return found


def missing_markers(frame: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Text cells that pandas would have read as missing ("NA", "None", "null"...): column -> marker -> rows."""
    found: dict[str, dict[str, int]] = {}
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            continue
        counts = column.dropna().astype(str).value_counts()
        hits = {str(k): int(v) for k, v in counts.items() if str(k) in MISSING_MARKERS}
        if hits:
            found[str(name)] = hits
    return found


def _is_timestamp(col: pd.Series) -> bool:
    """A datetime column, or text that pandas parses as dates throughout (with digits and a date separator)."""
    if pd.api.types.is_datetime64_any_dtype(col):
        return True
    if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        return False
    text = col.dropna().astype(str)
    if text.empty or not text.str.contains(r"\d{1,4}[-/.:]\d{1,2}", regex=True).all():
        return False
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pd.to_datetime(text, format="mixed")  # files written over time mix formats; the schema reads them so
    except (ValueError, TypeError, OverflowError):
        return False
    return True


def _is_identifier(name: str, col: pd.Series) -> bool:
    """One distinct value per row (or nearly): text with >= ID_SHARE distinct values, or whole numbers that
    are all distinct and either named like an id or (almost) consecutive; or text named like an id with more
    than MAX_CATEGORIES values (`truck_id`: one-hot columns for each truck, mostly rare). Continuous floats
    never are."""
    values = col.dropna()
    if len(values) < 20:
        return False
    distinct = values.nunique()
    if pd.api.types.is_bool_dtype(values):
        return False
    if not pd.api.types.is_numeric_dtype(values):
        return distinct >= ID_SHARE * len(values) or (bool(ID_NAME.search(name)) and distinct > MAX_CATEGORIES)
    numbers = values.to_numpy(dtype=float)
    if not np.all(np.mod(numbers, 1) == 0) or distinct != len(values):
        return False
    return bool(ID_NAME.search(name)) or (numbers.max() - numbers.min() + 1) <= 1.05 * len(values)


@dataclass(frozen=True)
class Inferred:
    """A starting contract: the model inputs, the target, and the columns kept in the data but left out of
    the inputs (identifiers, timestamps, protected attributes), each with the reason; `denied` is the deny-list
    init proposes (each left-out column and why it must not become an input)."""

    features: list[Column]
    target: Column
    others: list[Column]
    reasons: dict[str, str]
    timestamps: list[str]
    denied: dict[str, str]


def _privacy(name: str, kind: str) -> str:
    """init's tag for a column: personal when named like data about a person, an identifier or a protected
    attribute; else internal (a team's own data; nothing is public until someone says so)."""
    personal = PERSONAL_NAME.search(name) or SENSITIVE_NAME.search(name) or kind == "identifier"
    return "personal" if personal else "internal"


def infer_columns(frame: pd.DataFrame, target: str, task: str, keep: frozenset[str] = frozenset()) -> Inferred:
    """A starting schema for `frame`: feature columns, the target, and the identifier and timestamp columns
    left out of the features (unless named in `keep`)."""
    taken: set[str] = set()
    features, others, reasons, timestamps, denied = [], [], {}, [], {}
    for name in frame.columns:
        if name == target:
            continue
        col = frame[name]
        attribute = _attribute(name, taken)
        nullable = bool(col.isna().any())
        if _is_timestamp(col):
            timestamps.append(str(name))
            if str(name) not in keep:
                others.append(Column(str(name), attribute, "datetime", nullable, privacy=_privacy(str(name), "")))
                reasons[str(name)], denied[str(name)] = "a timestamp", DENY_REASONS["timestamp"]
                continue
        elif _is_identifier(str(name), col) and str(name) not in keep:
            kind = "str" if not pd.api.types.is_numeric_dtype(col) else ("float" if nullable else "int")
            others.append(Column(str(name), attribute, kind, nullable, privacy="personal"))
            reasons[str(name)] = f"an identifier ({col.nunique()} distinct values in {len(col)} rows)"
            denied[str(name)] = DENY_REASONS["identifier"]
            continue
        column = _input(str(name), attribute, col, nullable)
        if SENSITIVE_NAME.search(str(name)) and str(name) not in keep:
            others.append(column)
            reasons[str(name)] = "a protected attribute (by its name)"
            denied[str(name)] = DENY_REASONS["sensitive"]
        else:
            features.append(column)
    if not features:
        left_out = f" ({', '.join(reasons)} left out: pass --keep-columns to use them)" if reasons else ""
        raise InitError(f"the dataset has no feature columns besides the target{left_out}")
    y = frame[target]
    attribute = _attribute(target, taken)
    if task == "regression":
        low, high = _bounds(y)
        label = Column(target, attribute, "float", False, low, high)
    elif pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y):
        label = Column(target, attribute, "int", False, categories=[int(v) for v in sorted(map(_plain, y.unique()))])
    else:
        label = Column(target, attribute, "str", False, categories=sorted({str(v) for v in y.unique()}))
    return Inferred(features, label, others, reasons, timestamps, denied)


def _input(name: str, attribute: str, col: pd.Series, nullable: bool) -> Column:
    """A column as a model input: a number with loose bounds, or text (with its categories when few)."""
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        present = col.dropna()
        if present.empty:
            raise InitError(f"column {name!r} has no values at all; drop it from the dataset")
        low, high = _bounds(present)
        return Column(name, attribute, "float", nullable, low, high, privacy=_privacy(name, "float"))
    text = col.dropna().astype(str)
    categories = sorted(text.unique()) if text.nunique() <= MAX_CATEGORIES else None
    privacy = _privacy(name, "str")
    if privacy == "personal" and categories and text.value_counts().min() < MIN_GROUP_ROWS:
        categories = None  # schema.py is committed: a value held by so few rows would name someone there
    return Column(name, attribute, "str", nullable, categories=categories, privacy=privacy)


def check_classes(y: pd.Series, test_size: float) -> None:
    """Refuse a label with too few rows for a holdout split that contains it (see core.data.check_classes)."""
    from pipelines.core.data import DataError
    from pipelines.core.data import check_classes as check

    try:
        check(y, test_size)
    except DataError as exc:
        raise InitError(str(exc)) from None


def _column(column: Column, source: str | None = None) -> pa.Column:
    """The pandera Column a generated `pa.Field` declares (the same dtype, checks and nullability)."""
    from pandera.engines.pandas_engine import DateTime

    dtype: Any = {"float": float, "int": int, "str": str}.get(column.kind)
    if column.kind == "datetime":
        dtype = DateTime(to_datetime_kwargs={"format": "mixed"})  # type: ignore[call-arg]
    checks = []
    if column.categories is not None:
        checks.append(pa.Check.isin(column.categories))
    if column.low is not None:
        checks.append(pa.Check.ge(column.low))
    if column.high is not None:
        checks.append(pa.Check.le(column.high))
    return pa.Column(dtype, checks=checks, nullable=column.nullable, metadata=column.metadata(source))


def source_name(dataset: str) -> str:
    """The SOURCES key init declares for the inputs of the table it read: its file name's stem, as an identifier."""
    stem = re.sub(r"\W+", "_", str(dataset).rsplit("/", 1)[-1].split(".", 1)[0]).strip("_").lower()
    return stem or "dataset"


def contract_for(inferred: Inferred, task: str, dataset: str = "dataset") -> Contract:
    """The contract the generated pipelines/yours/schema.py declares, built directly (nothing is executed)."""
    source = source_name(dataset)
    inputs = {c.name: _column(c, source) for c in inferred.features}
    others = {c.name: _column(c) for c in inferred.others}
    target = inferred.target
    return Contract(
        raw=pa.DataFrameSchema({**inputs, **others, target.name: _column(target)}, strict=True, coerce=True),
        inputs=pa.DataFrameSchema(inputs, strict=True, coerce=True),
        target=target.name,
        task=task,
        sources={source: f"the table init read ({dataset})"},
        denied=dict(inferred.denied),
    )
