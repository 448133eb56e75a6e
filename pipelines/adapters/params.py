"""Reading the project's configuration: params.yaml, the paths and outputs of dvc.yaml, and the
data contract and estimator list in pipelines/yours/."""

from __future__ import annotations

import copy
import importlib
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from pipelines.core.params import Params, ParamsError, parse_params, renamed_keys

if TYPE_CHECKING:
    from pipelines.core.contract import Contract
    from pipelines.core.estimators import Estimator

DEFAULT_PARAMS = Path("params.yaml")
SCHEMA_MODULE = "pipelines.yours.schema"


def estimators() -> Mapping[str, Estimator]:
    """The project's estimator list (pipelines/yours/estimators.py)."""
    from pipelines.yours.estimators import ESTIMATORS

    return ESTIMATORS


def load_params(path: str | os.PathLike[str] = DEFAULT_PARAMS) -> Params:
    """Read and validate params.yaml (estimator sections against the estimator list); ParamsError naming
    every bad key."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParamsError(f"{p}: file not found") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{p}: not valid YAML: {exc}") from None
    for note in renamed_keys(copy.deepcopy(data)):
        print(f"warning: {note}", file=sys.stderr)
    return parse_params(data, str(p), estimators())


def load_contract(module: str = SCHEMA_MODULE) -> Contract:
    """The data contract pipelines/yours/schema.py declares; ParamsError when it is not a valid one."""
    from pipelines.core.contract import Contract

    try:
        return Contract.from_module(importlib.import_module(module))
    except ValueError as exc:
        raise ParamsError(f"{module}: {exc}") from None


def load_paths(dvc_yaml: str | os.PathLike[str] = "dvc.yaml") -> dict[str, str]:
    """The pipeline's paths, from the `vars: - paths:` block of dvc.yaml (where they are defined once)."""
    p = Path(dvc_yaml)
    try:
        for entry in yaml.safe_load(p.read_text(encoding="utf-8")).get("vars", []):
            if isinstance(entry, dict) and isinstance(entry.get("paths"), dict):
                return {str(k): str(v) for k, v in entry["paths"].items()}
    except (OSError, AttributeError, yaml.YAMLError) as exc:
        raise ParamsError(f"{p}: cannot read the paths block ({exc})") from None
    raise ParamsError(f"{p}: no `vars: - paths:` block")


def load_outputs(dvc_yaml: str | os.PathLike[str] = "dvc.yaml") -> list[tuple[str, str, bool]]:
    """(stage, path, cached) for every output dvc.yaml declares (outs, metrics, plots), in order.

    `cached` is False for `cache: false` outputs, which git holds. Paths are resolved from the
    `vars: - paths:` block, the only templating dvc.yaml uses here.
    """
    paths = load_paths(dvc_yaml)
    stages = (yaml.safe_load(Path(dvc_yaml).read_text(encoding="utf-8")) or {}).get("stages") or {}

    def resolve(text: str) -> str:
        return re.sub(r"\$\{paths\.(\w+)\}", lambda m: paths[m.group(1)], text)

    found = []
    for stage, body in stages.items():
        for kind in ("outs", "metrics", "plots"):
            for entry in body.get(kind) or []:
                path, options = (entry, {}) if isinstance(entry, str) else next(iter(entry.items()))
                found.append((str(stage), resolve(str(path)), bool((options or {}).get("cache", True))))
    return found


def stage_sections(dvc_yaml: str | os.PathLike[str] = "dvc.yaml") -> tuple[str, ...]:
    """The params.yaml sections the pipeline's stages read (each stage's `params:` in dvc.yaml), in order:
    what reports compare between revisions. An entry `section.key` counts as its section; an entry naming
    another params file (a mapping) is that file's, not params.yaml's."""
    stages = (yaml.safe_load(Path(dvc_yaml).read_text(encoding="utf-8")) or {}).get("stages") or {}
    sections = [
        str(entry).split(".")[0]
        for body in stages.values()
        for entry in body.get("params") or []
        if isinstance(entry, str)
    ]
    return tuple(dict.fromkeys(sections))


def committed_outputs(dvc_yaml: str | os.PathLike[str] = "dvc.yaml") -> list[str]:
    """dvc.lock and every output git holds (`cache: false`): what a pipeline run asks you to commit."""
    return ["dvc.lock", *(path for _, path, cached in load_outputs(dvc_yaml) if not cached)]


def write_section_values(path: str | os.PathLike[str], section: tuple[str, ...], values: Mapping[str, object]) -> None:
    """Set `values` under the mapping at `section` (e.g. ("train", "random_forest")) of the params file, keeping
    its comments and layout (ruamel round trip), atomically; ParamsError when the section is not there."""
    import io

    from ruamel.yaml import YAML

    from pipelines.adapters import files

    yaml_rt = YAML()
    yaml_rt.preserve_quotes = True
    yaml_rt.width = 120
    yaml_rt.indent(mapping=2, sequence=4, offset=2)
    data = yaml_rt.load(Path(path).read_text())
    node = data
    for key in section:
        if not isinstance(node, Mapping) or key not in node:
            raise ParamsError(f"{path}: no {'.'.join(section)} section to write {', '.join(values)} into")
        node = node[key]
    for key, value in values.items():
        node[key] = value
    out = io.StringIO()
    yaml_rt.dump(data, out)
    files.write_text(str(path), out.getvalue())
