"""The pull-request report's Features table: each model input's benefit (reports/features.json,
pipelines.core.benefit), what it costs (reports/feature_cost.json, pipelines.core.feature_cost, when measured),
its declared source, and which inputs are new since the base."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pipelines.core import markdown as md

SHOWN = 15  # inputs listed before the rest fold into a <details> block


def _signed(value: Any) -> str:
    return "-" if value is None else f"{value:+.4f}"


def features_table(
    doc: Mapping[str, Any], cost: Mapping[str, Any] | None, new: Sequence[str], budgets: Mapping[str, float | None]
) -> str:
    """Markdown: per input, benefit [interval], the three costs (when measured), source and notes; the inputs that
    need a look (new, removal does not hurt, over a budget) first, then by benefit, the rest folded away."""
    costs = {e["feature"]: e for e in (cost or {}).get("features", [])}
    rows = []
    for e in doc["features"]:
        notes, c = [], costs.get(e["feature"])
        if e["feature"] in new:
            notes.append("🆕 new")
        if e["flagged"]:
            notes.append("removal does not hurt")
        over = [k for k, b in budgets.items() if b is not None and c is not None and c[k] > b]
        if over:
            notes.append("over " + ", ".join(over))
        shown_cost = [("-" if c is None else f"{c[k]:+.3g}") for k in ("latency_us", "train_seconds", "train_mib")]
        row = (md.code(e["feature"]), f"{_signed(e['benefit'])} [{_signed(e['low'])}, {_signed(e['high'])}]",
               *shown_cost, md.cell(e.get("source") or "-"), "; ".join(notes))  # fmt: skip
        rows.append((not notes, -(e["benefit"] or 0.0), row))
    rows.sort(key=lambda r: (r[0], r[1]))
    header = ["input", f"benefit on {doc['metric']} [interval]", "+µs/row", "+s fit", "+MiB fit", "source", "note"]
    head = md.table(header, [r[2] for r in rows[:SHOWN]])
    level, margin = float(doc.get("level", 0.95)), float(doc.get("margin", 0.0))
    flagged = sum(e["flagged"] for e in doc["features"])
    measured = (f"costs from `feature-cost` ({cost['rows']} rows, {cost['estimator']}; medians of {cost['rounds']} "
                "rounds)" if cost else "costs not measured (`python -m pipelines feature-cost`)")  # fmt: skip
    note = (f"<sub>Benefit: the drop in {doc['metric']} when the input is shuffled (mean of {doc['repeats']}), "
            f"[low, high] its {level:.0%} paired bootstrap interval; {flagged} input(s) whose upper bound is at or "
            f"below {margin:g} would not be missed. {measured}.</sub>")  # fmt: skip
    if len(rows) <= SHOWN:
        return f"{head}\n\n{note}"
    rest = md.table(header, [r[2] for r in rows[SHOWN:]])
    return f"{head}\n\n<details><summary>{len(rows) - SHOWN} more inputs</summary>\n\n{rest}\n\n</details>\n\n{note}"
