"""An explained prediction (pipelines.core.explain.Explanation) as one JSON-ready document, and that document as
text: `python -m pipelines explain` prints one or the other (`--json`), so both say the same."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pipelines.core.explain import CONTRIBUTION_TOLERANCE, LOGGED_ATOL, LOGGED_RTOL, Explanation, Step
from pipelines.core.names import printable


def _number(value: Any) -> float | None:
    """A float as strict JSON holds it: None for NaN or infinity."""
    number = float(value)
    return number if math.isfinite(number) else None


def _by_output(outputs: list[str], values: Any) -> dict[str, float | None]:
    return {name: _number(v) for name, v in zip(outputs, np.asarray(values).ravel(), strict=True)}


def _step(step: Step) -> dict[str, Any]:
    columns = []
    for i, name in enumerate(step.names):
        entry = {"name": name, "input": step.inputs[i], "value": step.values[i]}
        if step.missing and step.missing[i] and name == step.inputs[i]:
            entry["missing"] = True  # the raw value was missing: this step's value was filled in
        columns.append(entry)
    return {"part": step.part, "step": step.step, "transformer": step.kind, "columns": columns}


def document(explanation: Explanation, about: dict[str, Any]) -> dict[str, Any]:
    """The explanation as one JSON-ready document: `about` (what the caller knows: the prediction id, the model's
    hash, version and source, the log entry, the background) first, then the inputs, every preprocessing step,
    the transformed features, the contributions (per input, sorted by size; per transformed column for a linear
    model), the output and whether it matches the logged one."""
    e, c = explanation, explanation.contributions
    order = np.argsort(-np.abs(c.by_input).max(axis=1), kind="stable")
    contributions: dict[str, Any] = {
        "method": c.method,
        "source": c.source,
        "scale": c.scale,
        "outputs": c.outputs,
        "base": {"label": c.base_label, "values": _by_output(c.outputs, c.base)},
        "by_input": [
            {
                "input": list(e.inputs)[i],
                "value": list(e.inputs.values())[i],
                "contributions": _by_output(c.outputs, c.by_input[i]),
            }
            for i in order
        ],
        "total": _by_output(c.outputs, c.total),
        "model_value": _by_output(c.outputs, c.value),
        "tolerance": CONTRIBUTION_TOLERANCE,
        "by_feature": None,
    }
    if c.by_feature is not None and c.coefficients is not None:
        contributions["by_feature"] = [
            {"feature": name, "input": e.feature_inputs[j], "value": _number(e.features[j]),
             "coefficients": _by_output(c.outputs, c.coefficients[j]),
             "contributions": _by_output(c.outputs, c.by_feature[j])}
            for j, name in enumerate(e.feature_names)
        ]  # fmt: skip
    if e.classes is None:
        output: dict[str, Any] = {"value": e.output[0]}
    else:
        output = {"probabilities": {str(k): p for k, p in zip(e.classes, e.output, strict=True)},
                  "predicted": e.classes[int(np.argmax(e.output))]}  # fmt: skip
    return {
        **about,
        "estimator": e.estimator,
        "inputs": e.inputs,
        "steps": [_step(s) for s in e.steps],
        "features": [
            {"name": n, "input": i, "value": v}
            for n, i, v in zip(e.feature_names, e.feature_inputs, e.features, strict=True)
        ],
        "contributions": contributions,
        "output": output,
        "logged_output": e.logged,
        "matches_logged": e.matches,
        "max_relative_difference": None if e.difference is None else _number(e.difference),
        "agreement": {"rtol": LOGGED_RTOL, "atol": LOGGED_ATOL},
    }


def _cell(value: Any) -> str:
    if value is None:
        return "missing"
    if isinstance(value, float):
        return f"{value:.6g}"
    return printable(str(value))


def _signed(value: float) -> str:
    return f"{value + 0.0:+.6g}"  # + 0.0: a zero contribution reads +0, not -0


def _table(rows: list[list[str]], indent: str = "    ") -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [indent + "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def _preprocessing(steps: list[dict[str, Any]], inputs: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for part in dict.fromkeys(s["part"] for s in steps):
        mine = [s for s in steps if s["part"] == part]
        lines.append(f"  {part}: " + " -> ".join(f"{s['step']} ({s['transformer']})" for s in mine))
        columns = [c["input"] for c in mine[0]["columns"]]
        tabled = [s for s in mine if [c["name"] for c in s["columns"]] == columns]
        if tabled:
            rows = [["column", "raw", *(s["step"] for s in tabled)]]
            for i, name in enumerate(columns):
                cells = [_cell(s["columns"][i]["value"]) + (" (filled)" if s["columns"][i].get("missing") else "")
                         for s in tabled]  # fmt: skip
                rows.append([printable(name), _cell(inputs.get(name)), *cells])
            lines += _table(rows)
        for s in mine:
            if s not in tabled:
                shown = "  ".join(f"{printable(c['name'])}={_cell(c['value'])}" for c in s["columns"])
                lines.append(f"    {s['step']}: {shown}")
    return lines


def _contributions(doc: dict[str, Any]) -> list[str]:
    c = doc["contributions"]
    outputs, linear = c["outputs"], c["by_feature"] is not None
    lines = [f"  method: {c['method']}", f"  source: {c['source']}", f"  scale: {c['scale']}"]
    one_to_one = linear and all(f["feature"] == f["input"] for f in c["by_feature"])
    for out in outputs if linear else []:
        lines.append(f"  {out}:" if len(outputs) > 1 else "  per transformed column:")
        ranked = sorted(c["by_feature"], key=lambda f: -abs(f["contributions"][out]))
        rows = [["input", "column", "value", "coefficient", "contribution"]]
        rows += [[printable(f["input"]), printable(f["feature"]), _cell(f["value"]),
                  _cell(f["coefficients"][out]), _signed(f["contributions"][out])] for f in ranked]  # fmt: skip
        for label, values in ((c["base"]["label"], c["base"]["values"]), ("sum (decision value)", c["total"]),
                              ("the model's own value", c["model_value"])):  # fmt: skip
            rows.append(["", label, "", "", _signed(values[out])])
        lines += _table([r[1:] for r in rows] if one_to_one else rows)  # one column per input: named once
    if not one_to_one:
        lines.append("  per input column (its transformed columns summed):" if linear else "  per input column:")
        rows = [["input", "value", *outputs]]
        rows += [[printable(i["input"]), _cell(i["value"]), *(_signed(i["contributions"][o]) for o in outputs)]
                 for i in c["by_input"]]  # fmt: skip
        rows.append([c["base"]["label"], "", *(_signed(c["base"]["values"][o]) for o in outputs)])
        rows.append(["sum", "", *(_signed(c["total"][o]) for o in outputs)])
        rows.append(["the model's own value", "", *(_signed(c["model_value"][o]) for o in outputs)])
        lines += _table(rows)
    lines.append(f"  the sum equals the model's own value within {c['tolerance']:g} relative (checked)")
    return lines


def render(doc: dict[str, Any]) -> str:
    """The document (`document`) as text: where the prediction and the model come from, the raw inputs, each
    preprocessing step's values, the contributions, the output and whether it matches the logged one."""
    model = doc.get("model") or {}
    lines = []
    if doc.get("prediction_id"):
        lines.append(f"prediction {doc['prediction_id']}")
    if doc.get("logged"):
        logged = doc["logged"]
        lines.append(f"  logged at {logged['at']} (the {logged['role']}'s output) in {logged['log']}")
    lines.append(f"model {model.get('hash', '?')} ({model.get('version', '?')}): {model.get('source', '?')}")
    if doc.get("background"):
        lines.append(f"background: {doc['background']}")
    lines.append(f"estimator: {doc['estimator']}")
    lines += ["", "1. raw inputs"]
    lines += _table([[printable(k), _cell(v)] for k, v in doc["inputs"].items()])
    lines += ["", "2. preprocessing (each step's output for this row)", *_preprocessing(doc["steps"], doc["inputs"])]
    lines += ["", "3. contributions", *_contributions(doc)]
    lines += ["", "4. output"]
    out = doc["output"]
    if "value" in out:
        lines.append(f"  value: {_cell(out['value'])}")
    else:
        lines.append("  " + "  ".join(f"P({printable(k)}) = {p:.6g}" for k, p in out["probabilities"].items()))
        lines.append(f"  predicted: {_cell(out['predicted'])}")
    if doc["matches_logged"] is not None:
        said = "matches the logged output" if doc["matches_logged"] else "DOES NOT match the logged output"
        logged = ", ".join(f"{v:.17g}" for v in doc["logged_output"])
        gap = doc["max_relative_difference"]
        gap_text = "n/a: another number of outputs" if gap is None else f"{gap:.3g}"
        lines.append(f"  {said} [{logged}] (largest relative difference {gap_text}; "
                     f"agreement: relative {LOGGED_RTOL:g} + absolute {LOGGED_ATOL:g})")  # fmt: skip
    return "\n".join(lines) + "\n"
