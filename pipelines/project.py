"""Making a fresh copy of the template someone's own project: `python -m pipelines init`.

`plan` works out every file change without touching anything: the project's names, its
environments, its remotes and, with a dataset, a starting schema, the task, and gate floors that
the first model meets on the same holdout split `make run` will use. `apply` then writes it.

A copy is "fresh" when every file init owns is as the template shipped it, or as init last wrote
it: `.template.yml` records their sha256. Anything else has diverged, and init refuses rather than
overwrite a person's work.
"""

from __future__ import annotations

import hashlib
import io
import json
import keyword
import math
import re
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipelines.errors import PipelineError

RECORD = ".template.yml"
TEMPLATE_ENVIRONMENTS = ("staging", "production")
WORKFLOWS = "workflows"  # under .github/
MAX_CLASSES = 50  # more distinct labels than this is not a classification target we guess at
MAX_CATEGORIES = 50  # a text column with more distinct values gets no `isin` check


class InitError(PipelineError, ValueError):
    """init cannot run: bad options or data, or a repository that has diverged from the template."""


@dataclass(frozen=True)
class Options:
    """What `init` was asked for; None keeps what the files say now."""

    name: str
    model_name: str | None = None
    image: str | None = None
    environments: tuple[str, str] | None = None
    reviewers: tuple[str, ...] | None = None
    dvc_remote: str | None = None
    mlflow_uri: str | None = None
    dataset: Path | None = None
    target: str | None = None
    task: str | None = None

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
        if self.dataset is not None:
            out.update(
                dataset=self.dataset.name,
                dataset_sha256=_sha256(self.dataset.read_bytes()),
                target=self.target,
                task=self.task,
            )
        return out


# ---------------------------------------------------------------------------------------------
# Reading the user's data: task, columns, bounds


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
    kind: str  # "float", "int" or "str"
    nullable: bool
    low: float | None = None
    high: float | None = None
    categories: list[Any] | None = None

    def field_code(self) -> str:
        args = [f"alias={json.dumps(self.name)}"] if self.attribute != self.name else []
        if self.categories is not None:
            args.append(f"isin={json.dumps(self.categories)}")
        if self.low is not None:
            args.append(f"ge={_num(self.low)}")
        if self.high is not None:
            args.append(f"le={_num(self.high)}")
        args.append(f"nullable={self.nullable}")
        return f"    {self.attribute}: Series[{self.kind}] = pa.Field({', '.join(args)})"


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
    base = re.sub(r"\W+", "_", str(name).strip()).strip("_").lower() or "column"
    if base[0].isdigit() or keyword.iskeyword(base):
        base = f"c_{base}"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    taken.add(candidate)
    return candidate


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def infer_columns(frame: pd.DataFrame, target: str, task: str) -> tuple[list[Column], Column]:
    """The feature columns and the target column of a starting schema for `frame`."""
    taken: set[str] = set()
    features = []
    for name in frame.columns:
        if name == target:
            continue
        col = frame[name]
        attribute = _attribute(name, taken)
        nullable = bool(col.isna().any())
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            present = col.dropna()
            if present.empty:
                raise InitError(f"column {name!r} has no values at all; drop it from the dataset")
            low, high = _bounds(present)
            features.append(Column(str(name), attribute, "float", nullable, low, high))
        else:
            text = col.dropna().astype(str)
            categories = sorted(text.unique()) if text.nunique() <= MAX_CATEGORIES else None
            features.append(Column(str(name), attribute, "str", nullable, categories=categories))
    if not features:
        raise InitError("the dataset has no columns besides the target")
    y = frame[target]
    attribute = _attribute(target, taken)
    if task == "regression":
        low, high = _bounds(y)
        return features, Column(target, attribute, "float", False, low, high)
    labels = sorted(_plain(v) for v in y.unique())
    numeric = pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y)
    if numeric:
        return features, Column(target, attribute, "int", False, categories=[int(v) for v in labels])
    return features, Column(target, attribute, "str", False, categories=[str(v) for v in labels])


SCHEMA_TEMPLATE = '''"""The data contract: pandera schemas for the raw data and the model inputs; the target; the task.

Written by `python -m pipelines init` from {source} ({rows} rows): a starting point to review.
- Bounds are loose on purpose (the observed range widened by its width on each side; 0 stays the
  floor of non-negative columns), so they catch unit mix-ups and corrupt rows, not honest new data.
- Text columns are categorical; with at most {max_categories} distinct values they list them (`isin`),
  so a new category fails validation until you add it here.
- `nullable` is True where the sample had missing values; the default preprocessing imputes them.
How data is checked against this file lives in pipelines/validation.py.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from pipelines.config import Task

TARGET = {target}
"""{target_doc}"""
TASK: Task = "{task}"
"""binary (the larger label is the positive class), multiclass or regression: picks estimators and metrics."""


class Features(pa.DataFrameModel):
    """Model inputs: {n_numeric} numeric and {n_categorical} categorical column(s)."""

{feature_fields}

    class Config:
        strict = True
        coerce = True


class RawData(Features):
    """A labelled row: the features plus the target."""

{target_field}

    class Config:
        strict = True
        coerce = True


FEATURES: list[str] = list(Features.to_schema().columns)
NUMERIC_FEATURES: list[str] = [
    name for name, col in Features.to_schema().columns.items() if pd.api.types.is_numeric_dtype(str(col.dtype))
]
CATEGORICAL_FEATURES: list[str] = [name for name in FEATURES if name not in NUMERIC_FEATURES]
'''


def render_schema(features: Sequence[Column], target: Column, task: str, source: str, rows: int) -> str:
    """The source of pipelines/schema.py for these columns."""
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
        target=json.dumps(target.name),
        target_doc=doc,
        task=task,
        n_numeric=sum(c.kind == "float" for c in features),
        n_categorical=sum(c.kind == "str" for c in features),
        feature_fields="\n".join(c.field_code() for c in features),
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
    result = subprocess.run([ruff, "format", "--stdin-filename", "pipelines/schema.py", "-"], input=code, text=True,
                            capture_output=True, cwd=root, check=False)  # fmt: skip
    return result.stdout if result.returncode == 0 else code


def load_schema(code: str) -> types.ModuleType:
    """Execute generated schema code as a module (so init can check the data against it first)."""
    import sys

    name = "pipelines._generated_schema"
    module = types.ModuleType(name)
    # registered for good: pandera resolves the annotations through sys.modules whenever it builds a schema
    sys.modules[name] = module
    exec(compile(code, "pipelines/schema.py (generated)", "exec"), module.__dict__)
    return module


# ---------------------------------------------------------------------------------------------
# Gate floors that fit the task


GATED: dict[str, tuple[str, ...]] = {
    "binary": ("roc_auc", "average_precision", "f1", "recall", "log_loss"),
    "multiclass": ("accuracy", "f1_macro", "log_loss"),
    "regression": ("r2", "rmse", "mae"),
}
PRIMARY = {"binary": "roc_auc", "multiclass": "f1_macro", "regression": "r2"}
SCALED = frozenset({"rmse", "mae"})  # in the target's units


def _round(value: float, up: bool, digits: int = 2) -> float:
    factor = 10**digits
    return float((math.ceil if up else math.floor)(round(value * factor, 9)) / factor)


def floors_for(scores: Mapping[str, float], task: str) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """(floors, max_regression, production max_regression) from the first model's holdout scores.

    Floors sit a margin below what the first model reaches (ceilings above, for errors), so a
    clearly worse model fails while seed-level noise does not; review them once you know what
    good enough means for your problem.
    """
    floors: dict[str, float] = {}
    regression: dict[str, float] = {}
    for metric in GATED[task]:
        value = float(scores[metric])
        if metric in SCALED:
            floors[metric] = float(f"{_outward(value * 1.10, up=True):.6g}")
            regression[metric] = float(f"{_outward(max(value * 0.05, 1e-9), up=True):.3g}")
        elif metric == "log_loss":
            floors[metric] = _round(value * 1.25 + 0.05, up=True)
            regression[metric] = 0.05
        else:
            floors[metric] = max(0.0, _round(value - 0.05, up=False))
            regression[metric] = 0.03
    primary = PRIMARY[task]
    production = {primary: float(f"{regression[primary] / 3:.3g}")}
    return floors, regression, production


def first_scores(frame: pd.DataFrame, schema: types.ModuleType, params: Any, task: str) -> dict[str, float]:
    """The holdout scores the default pipeline will reach on this data with these params: the same
    split (seed, size, stratification), preprocessing and estimator as `make run`."""
    from pipelines.data import split
    from pipelines.evaluate import model_output, score
    from pipelines.train import build_pipeline

    validated = schema.RawData.validate(frame, lazy=True)
    train, test = split(validated, params.split.test_size, params.split.seed, params.split.stratify, task,
                        target=schema.TARGET)  # fmt: skip
    model = build_pipeline(params.train, task, schema.NUMERIC_FEATURES, schema.CATEGORICAL_FEATURES)
    model.fit(train[schema.FEATURES], train[schema.TARGET])
    output = model_output(model, test[schema.FEATURES], task)
    classes = getattr(model, "classes_", None)
    return score(test[schema.TARGET].to_numpy(), output, task=task, classes=classes,
                 threshold=params.evaluate.threshold)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Editing the files init owns


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML()  # round trip: comments and layout survive
    yaml.preserve_quotes = True
    yaml.width = 120
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.representer.add_representer(
        type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null")
    )  # `null`, as the template writes it, rather than an empty value
    return yaml


def _load(text: str) -> Any:
    return _yaml().load(text)


def _dump(data: Any) -> str:
    out = io.StringIO()
    _yaml().dump(data, out)
    return out.getvalue()


def _replace(mapping: Any, values: Mapping[str, float]) -> None:
    """Replace a mapping's items in place, keeping the comment lines that follow its last item."""
    tail = mapping.ca.items.get(list(mapping)[-1]) if len(mapping) else None
    for key in list(mapping):
        del mapping[key]
    for key, value in values.items():
        mapping[key] = value
    if tail is not None and len(mapping):
        mapping.ca.items[list(mapping)[-1]] = tail


def edit_params(text: str, options: Options, task: str | None, gates: tuple[dict, dict, dict] | None) -> str:
    """params.yaml with the project's names, environments and (with a dataset) task settings."""
    data = _load(text)
    data["mlflow"]["experiment"] = options.name
    if options.model_name:
        data["environments"]["model_name"] = options.model_name
    stages = data["environments"]["stages"]
    if options.environments:
        previous = "main"
        for stage, name in zip(stages, options.environments, strict=True):
            stage["name"], stage["promote_from"] = name, previous
            previous = name
    if task is not None and gates is not None:
        floors, regression, production = gates
        data["split"]["stratify"] = task != "regression"
        train = data["train"]
        if task == "regression":
            train["estimator"] = "ridge"
            if "logistic_regression" in train:
                del train["logistic_regression"]
            if "ridge" not in train:
                from ruamel.yaml.comments import CommentedMap

                train.insert(list(train).index("reference_bins") + 1, "ridge", CommentedMap(alpha=1.0))
                train.yaml_add_eol_comment("L2 regularisation strength of the linear model", "ridge")
            for section in ("random_forest", "hist_gradient_boosting"):
                if section in train and "class_weight" in train[section]:
                    del train[section]["class_weight"]
        else:
            train["estimator"] = "logistic_regression"
        _replace(data["gate"]["floors"], floors)
        _replace(data["gate"]["max_regression"], regression)
        for stage in stages[1:]:
            if "max_regression" in stage:
                _replace(stage["max_regression"], production)
    return _dump(data)


def edit_dvc_yaml(text: str, task: str) -> str:
    """dvc.yaml with the `plots:` section for `task` (see plots.dvc_plots)."""
    from pipelines.plots import dvc_plots

    data = _load(text)
    directory = data["vars"][0]["paths"]["plots"]
    data["plots"] = dvc_plots(task, directory)
    return _dump(data)


def rename_environments(text: str, old: Sequence[str], new: Sequence[str]) -> str:
    """Replace each old environment name, as a whole word, by the new one (workflows, settings)."""
    mapping = dict(zip(old, new, strict=True))
    if not mapping or all(a == b for a, b in mapping.items()):
        return text
    pattern = re.compile(r"(?<![\w-])(" + "|".join(re.escape(o) for o in old) + r")(?![\w-])")
    return pattern.sub(lambda m: mapping[m.group(1)], text)


def edit_settings(text: str, options: Options, old_envs: Sequence[str]) -> str:
    """.github/protection.yml: environment names, production reviewers, repository variables."""
    if options.environments:
        text = rename_environments(text, old_envs, options.environments)
    data = _load(text)
    envs = list(data.get("environments") or {})
    if options.reviewers is not None and envs:
        data["environments"][envs[-1]]["reviewers"] = list(options.reviewers)
    if options.mlflow_uri is not None:
        data.setdefault("variables", {})["MLFLOW_TRACKING_URI"] = options.mlflow_uri
    return _dump(data)


IMAGE_LINE = re.compile(r"^(\s*IMAGE: ).+$", re.M)
"""The `IMAGE: registry/name` lines of main.yml (build) and deploy.yml (registry login)."""


def edit_workflow(text: str, options: Options, old_envs: Sequence[str]) -> str:
    if options.environments:
        text = rename_environments(text, old_envs, options.environments)
    if options.image:
        text = IMAGE_LINE.sub(lambda m: f"{m.group(1)}{options.image}", text)
    return text


def edit_dvc_config(text: str, url: str) -> str:
    """.dvc/config with `url` as the default remote named `storage`, in DVC's own layout."""
    sections: dict[str, dict[str, str]] = {}
    current = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            current = sections.setdefault(stripped, {})
        elif "=" in stripped and current is not None:
            key, value = (part.strip() for part in stripped.split("=", 1))
            current[key] = value
    sections.setdefault("[core]", {})["remote"] = "storage"
    sections.setdefault("['remote \"storage\"']", {})["url"] = url
    lines = []
    for header, values in sections.items():
        lines.append(header)
        lines += [f"    {key} = {value}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# The record and the plan


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def owned_files(root: Path) -> list[str]:
    """Every file init may write, relative to `root` (besides data/ and the record itself)."""
    names = ["params.yaml", "dvc.yaml", "data.dvc", "pipelines/schema.py", ".github/protection.yml", ".dvc/config"]
    names += sorted(str(p.relative_to(root)) for p in (root / ".github" / WORKFLOWS).glob("*.yml"))
    return names


def read_record(root: Path) -> dict[str, Any]:
    import yaml

    path = root / RECORD
    if not path.exists():
        raise InitError(
            f"{RECORD} is missing: this does not look like a copy of the template (or the record was deleted); "
            "init only sets up a fresh copy"
        )
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data.get("files"), dict):
        raise InitError(f"{RECORD}: no `files:` mapping")
    return data


def render_record(files: Mapping[str, str], options: Mapping[str, Any] | None) -> str:
    import yaml

    header = (
        "# Written by `python -m pipelines init` (docs/FORKING.md): the sha256 of every file init owns, as the\n"
        "# template shipped it or as init last wrote it. init refuses to run once one of them has changed.\n"
    )
    body = {"initialised": options is not None, "options": dict(options) if options else None, "files": dict(files)}
    return header + yaml.safe_dump(body, sort_keys=False)


def current_hashes(root: Path) -> dict[str, str]:
    return {name: _sha256((root / name).read_bytes()) for name in owned_files(root) if (root / name).exists()}


def diverged(root: Path, record: Mapping[str, Any]) -> list[str]:
    """Owned files whose content differs from the record (changed by hand since template or init)."""
    recorded: Mapping[str, str] = record["files"]
    now = current_hashes(root)
    return sorted(name for name in set(recorded) | set(now) if recorded.get(name) != now.get(name))


@dataclass
class Plan:
    """Every change init would make; empty when the copy is already set up this way."""

    writes: dict[str, str] = field(default_factory=dict)  # path -> new text
    data_file: Path | None = None  # the dataset to place in data/ (then `dvc add`)
    task: str | None = None
    scores: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.writes and self.data_file is None


def _read_dataset(path: Path) -> pd.DataFrame:
    from pipelines.files import read_frame

    if path.suffix not in (".csv", ".parquet"):
        raise InitError(f"{path}: expected a .csv or .parquet file")
    try:
        return read_frame(path)
    except FileNotFoundError:
        raise InitError(f"{path}: no such file") from None
    except Exception as exc:  # pandas and pyarrow raise many types for unreadable files
        raise InitError(f"{path}: cannot be read: {exc}") from None


def _data_in_place(root: Path, dataset: Path, data_dir: str) -> bool:
    files = [p for p in (root / data_dir).rglob("*") if p.is_file()] if (root / data_dir).is_dir() else []
    return len(files) == 1 and files[0].name == dataset.name and files[0].read_bytes() == dataset.read_bytes()


def plan(root: Path, options: Options) -> Plan:
    """Work out init's changes for `options` in the repository at `root`; write nothing."""
    from pipelines.config import load_paths, parse_params

    record = read_record(root)
    changed = diverged(root, record)
    if changed:
        raise InitError(
            "this repository has diverged from the template: "
            + ", ".join(changed)
            + f" changed since {'init last ran' if record.get('initialised') else 'the template'} ({RECORD}). "
            "init only sets up a fresh copy and will not overwrite your edits. Make the change by hand instead "
            "(docs/FORKING.md lists where each setting lives), or run init in a fresh copy of the template."
        )
    if options.environments and len(set(options.environments)) != 2:
        raise InitError("--environments takes two different names: the first is promoted from main, then the second")
    for name in options.environments or ():
        if not re.fullmatch(r"[a-z][a-z0-9-]*", name) or name == "main":
            raise InitError(f"environment name {name!r}: use lower-case letters, digits and '-', not 'main'")
    result = Plan()
    params_text = (root / "params.yaml").read_text()
    current = parse_params(_yaml_safe(params_text))
    old_envs = [s.name for s in current.environments.stages]
    if len(old_envs) != 2:
        raise InitError(f"params.yaml defines {len(old_envs)} environments; init renames exactly two")

    gates = None
    task = None
    if options.dataset is not None:
        frame = _read_dataset(options.dataset)
        if not options.target or options.target not in frame.columns:
            raise InitError(
                f"--target {options.target!r} is not a column of {options.dataset.name}; "
                f"its columns are: {', '.join(map(str, frame.columns[:30]))}"
            )
        missing = int(frame[options.target].isna().sum())
        if missing:
            raise InitError(f"target column {options.target!r} has {missing} missing value(s): drop those rows first")
        if len(frame) < 20:
            raise InitError(
                f"{options.dataset.name} has {len(frame)} rows; at least 20 are needed to train and hold out"
            )
        task = options.task or infer_task(frame[options.target])
        features, target = infer_columns(frame, options.target, task)
        code = formatted(render_schema(features, target, task, options.dataset.name, len(frame)), root)
        schema = load_schema(code)
        from pipelines.validation import DataValidationError, validate

        try:
            validate(frame, schema.RawData)
        except DataValidationError as error:
            raise InitError(f"{options.dataset.name} does not pass the schema inferred from it:\n{error}") from None
        provisional = edit_params(params_text, options, task, (dict.fromkeys(GATED[task], 0.0),) * 3)  # type: ignore[arg-type]
        params = parse_params(_yaml_safe(provisional))
        result.scores = first_scores(frame, schema, params, task)
        gates = floors_for(result.scores, task)
        result.writes["pipelines/schema.py"] = code
        result.writes["dvc.yaml"] = edit_dvc_yaml((root / "dvc.yaml").read_text(), task)
        data_dir = load_paths(root / "dvc.yaml")["data"]
        if not _data_in_place(root, options.dataset, data_dir):
            result.data_file = options.dataset
        result.task = task
    result.writes["params.yaml"] = edit_params(params_text, options, task, gates)
    result.writes[".github/protection.yml"] = edit_settings((root / ".github/protection.yml").read_text(), options,
                                                            old_envs)  # fmt: skip
    for name in owned_files(root):
        if name.startswith(f".github/{WORKFLOWS}/"):
            result.writes[name] = edit_workflow((root / name).read_text(), options, old_envs)
    if options.dvc_remote:
        config = root / ".dvc" / "config"
        result.writes[".dvc/config"] = edit_dvc_config(
            config.read_text() if config.exists() else "", options.dvc_remote
        )
    # keep only real changes, so that a second run with the same options changes nothing
    result.writes = {k: v for k, v in result.writes.items() if not (root / k).exists() or (root / k).read_text() != v}
    return result


def _yaml_safe(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)


def apply(root: Path, options: Options, result: Plan) -> list[str]:
    """Write the plan, place the dataset and `dvc add` it, then update the record; return what changed."""
    import shutil
    import subprocess
    import sys

    from pipelines import files
    from pipelines.config import load_paths

    changed = sorted(result.writes)
    if result.data_file is not None:
        data_dir = root / load_paths(root / "dvc.yaml")["data"]
        if data_dir.exists() and any(data_dir.iterdir()):
            from pipelines.data import _matches_and_cache

            if not _matches_and_cache(str(root / "data.dvc")):
                raise InitError(
                    f"{data_dir.name}/ holds files that data.dvc does not describe; commit them with `dvc add` "
                    "(or move them away) before init replaces the data"
                )
    for name, text in result.writes.items():
        files.write_text(root / name, text)
    if result.data_file is not None:
        with files.atomic_dir(data_dir) as tmp:
            shutil.copyfile(result.data_file, tmp / result.data_file.name)
        added = subprocess.run([sys.executable, "-m", "dvc", "add", data_dir.name], cwd=root, text=True,
                               capture_output=True, check=False)  # fmt: skip
        if added.returncode != 0:
            raise InitError(f"dvc add {data_dir.name} failed:\n{added.stderr.strip()}")
        changed += [f"{data_dir.name}/{result.data_file.name}", "data.dvc"]
    record = read_record(root)
    wanted = options.recorded()
    if changed or not record.get("initialised") or record.get("options") != wanted:
        files.write_text(root / RECORD, render_record(current_hashes(root), wanted))
        changed.append(RECORD)
    return sorted(set(changed))


def refresh_record(root: Path) -> None:
    """Template maintainers: record the current owned files as the template's (`make template-record`)."""
    from pipelines import files

    files.write_text(root / RECORD, render_record(current_hashes(root), None))
