"""Making a fresh copy of the template someone's own project: `python -m pipelines init`.

`plan` works out every file change without touching anything: the project's names, its
environments, its remotes and, with a dataset, a starting schema, the task, and gate floors that
the first model meets on the same holdout split `make run` will use. `apply` then writes it.
A copy is "fresh" when every file init owns is as the template shipped it or as init last wrote it
(pipelines.template.record).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines.template import codegen, edits, floors, infer
from pipelines.template.infer import InitError
from pipelines.template.record import (
    RECORD,
    SCHEMA,
    WORKFLOWS,
    current_hashes,
    diverged,
    owned_files,
    read_record,
    render_record,
    sha256,
)


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
                dataset_sha256=sha256(self.dataset.read_bytes()),
                target=self.target,
                task=self.task,
            )
        return out


@dataclass
class Plan:
    """Every change init would make; empty when the copy is already set up this way."""

    writes: dict[str, str] = field(default_factory=dict)  # path -> new text
    data_file: Path | None = None  # the dataset to place in data/ (then `dvc add`)
    task: str | None = None
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """Whether init would change nothing."""
        return not self.writes and self.data_file is None


def _read_dataset(path: Path) -> pd.DataFrame:
    from pipelines.adapters.files import read_frame

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
    """Work out init's changes for `options` in the repository at `root`; write nothing.

    Raises InitError for a diverged copy, bad options, or a dataset that cannot start a project.
    """
    from pipelines.adapters.params import estimators, load_paths
    from pipelines.core.params import parse_params
    from pipelines.core.tasks import spec

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
    current = parse_params(_yaml_safe(params_text), "params.yaml", estimators())
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
        task = options.task or infer.infer_task(frame[options.target])
        features, target = infer.infer_columns(frame, options.target, task)
        code = codegen.formatted(codegen.render_schema(features, target, task, options.dataset.name, len(frame)), root)
        contract = infer.contract_for(features, target, task)
        from pipelines.core.validation import DataValidationError, validate

        try:
            validate(frame, contract.raw)
        except DataValidationError as error:
            raise InitError(f"{options.dataset.name} does not pass the schema inferred from it:\n{error}") from None
        zeros = dict.fromkeys(spec(task).gated, 0.0)
        provisional = edits.edit_params(params_text, options, task, (zeros, zeros, zeros))
        params = parse_params(_yaml_safe(provisional), "params.yaml", estimators())
        result.scores = floors.first_scores(frame, contract, params)
        gates = floors.floors_for(result.scores, task)
        result.writes[SCHEMA] = code
        result.writes["dvc.yaml"] = edits.edit_dvc_yaml((root / "dvc.yaml").read_text(), task)
        data_dir = load_paths(root / "dvc.yaml")["data"]
        if not _data_in_place(root, options.dataset, data_dir):
            result.data_file = options.dataset
        result.task = task
    result.writes["params.yaml"] = edits.edit_params(params_text, options, task, gates)
    settings = (root / ".github/protection.yml").read_text()
    result.writes[".github/protection.yml"] = edits.edit_settings(settings, options, old_envs)
    for name in owned_files(root):
        if name.startswith(f".github/{WORKFLOWS}/"):
            result.writes[name] = edits.edit_workflow((root / name).read_text(), options, old_envs)
    if options.dvc_remote:
        config = root / ".dvc" / "config"
        existing = config.read_text() if config.exists() else ""
        result.writes[".dvc/config"] = edits.edit_dvc_config(existing, options.dvc_remote)
    # keep only real changes, so that a second run with the same options changes nothing
    result.writes = {k: v for k, v in result.writes.items() if not (root / k).exists() or (root / k).read_text() != v}
    return result


def _yaml_safe(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)


def apply(root: Path, options: Options, result: Plan) -> list[str]:
    """Write the plan, place the dataset and `dvc add` it, then update the record; return what changed.

    `root` must be the working directory (DVC commands run there).
    """
    import shutil

    from pipelines.adapters import dvc, files
    from pipelines.adapters.params import load_paths

    changed = sorted(result.writes)
    if result.data_file is not None:
        data_dir = root / load_paths(root / "dvc.yaml")["data"]
        if data_dir.exists() and any(data_dir.iterdir()):
            if dvc.workspace_matches(data_dir.name):
                dvc.cache("data.dvc")
            else:
                raise InitError(
                    f"{data_dir.name}/ holds files that data.dvc does not describe; commit them with `dvc add` "
                    "(or move them away) before init replaces the data"
                )
    for name, text in result.writes.items():
        files.write_text(root / name, text)
    if result.data_file is not None:
        with files.atomic_dir(data_dir) as tmp:
            shutil.copyfile(result.data_file, tmp / result.data_file.name)
        try:
            dvc.add(data_dir.name)
        except dvc.DvcError as exc:
            raise InitError(str(exc)) from None
        changed += [f"{data_dir.name}/{result.data_file.name}", "data.dvc"]
    record = read_record(root)
    wanted = options.recorded()
    if changed or not record.get("initialised") or record.get("options") != wanted:
        files.write_text(root / RECORD, render_record(current_hashes(root), wanted))
        changed.append(RECORD)
    return sorted(set(changed))
