"""The merge gate: absolute floors, and no regression against the base beyond a tolerance."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipelines.core.metrics import LOWER_IS_BETTER
from pipelines.core.params import GateParams, ParamsError
from pipelines.core.tasks import task_spec


@dataclass(frozen=True)
class Rule:
    """One checked rule. `threshold` is the bound `value` had to meet (None for "not compared")."""

    # "floor", "regression" (point), "non-inferiority" (the paired interval's bound), "baseline", "slice floor",
    # "slice regression", "group gap", "feature benefit", "feature cost", or "not compared"
    kind: str
    metric: str
    threshold: float | None
    value: float | None
    passed: bool
    reason: str
    scope: str = ""  # the slice (or sensitive column) a rule judges, "" for the whole holdout

    @property
    def comparison(self) -> str:
        """How `value` had to compare with `threshold`: <= for lower-is-better metrics and gaps, else >=."""
        if self.kind == "feature benefit":  # the benefit's upper bound must clear the margin
            return ">"
        return "<=" if self.metric in LOWER_IS_BETTER or self.kind in ("group gap", "feature cost") else ">="


@dataclass(frozen=True)
class Verdict:
    """Every rule checked; `has_base` is False when there was nothing to regress from (no base metrics)."""

    rules: list[Rule]
    has_base: bool

    @property
    def passed(self) -> bool:
        """Whether every rule held."""
        return all(rule.passed for rule in self.rules)

    @property
    def failures(self) -> list[Rule]:
        """The rules that did not hold."""
        return [rule for rule in self.rules if not rule.passed]


_EPSILON = 1e-9  # so that a value exactly at a computed bound (0.93 - 0.05) is not failed by float error


def _meets(metric: str, value: float, bound: float) -> bool:
    return value <= bound + _EPSILON if metric in LOWER_IS_BETTER else value >= bound - _EPSILON


def require_reported_metrics(params: GateParams, task: str) -> None:
    """Refuse gate rules on metrics this task does not report (a floor copied from another task)."""
    allowed = task_spec(task).metrics
    wrong = (
        [
            f"gate.{section}.{metric}"
            for section, rules in (("floors", params.floors), ("max_regression", params.max_regression))
            for metric in rules
            if metric not in allowed
        ]
        + [
            f"gate.slice_floors.{name}.{metric}"
            for name, rules in params.slice_floors.items()
            for metric in rules
            if metric not in allowed
        ]
        + [
            f"gate.max_group_gap.{column}.{gap} (a {task} task's gaps: {', '.join(task_spec(task).group_gaps)})"
            for column, limits in params.max_group_gap.items()
            for gap in limits
            if gap not in task_spec(task).group_gaps
        ]
    )
    if wrong:
        raise ParamsError(f"{', '.join(wrong)}: not reported for a {task} task; its metrics are: {', '.join(allowed)}")


def floor_rules(metrics: Mapping[str, float], floors: Mapping[str, float]) -> list[Rule]:
    """gate.floors applied to `metrics`: one Rule per floor (a ceiling for lower-is-better metrics), failed when
    the value is on the wrong side beyond float error, or missing. The merge gate and the live floors both judge
    with this."""
    rules: list[Rule] = []
    for metric, floor in floors.items():
        value = metrics.get(metric)
        word = "ceiling" if metric in LOWER_IS_BETTER else "floor"
        if value is None:
            rules.append(Rule("floor", metric, floor, None, False, f"{metric} is missing from the metrics"))
            continue
        ok = _meets(metric, value, floor)
        side = "above" if metric in LOWER_IS_BETTER else "below"
        reason = "" if ok else f"{metric} = {value:.4f} is {side} the {word} {floor:.4f}"
        rules.append(Rule("floor", metric, floor, value, ok, reason))
    return rules


def check(
    metrics: Mapping[str, float],
    base: Mapping[str, float] | None,
    params: GateParams,
    paired: Mapping[str, Mapping[str, float]] | None = None,
    level: float | None = None,
) -> Verdict:
    """Apply the gate rules; `base` is None when the base branch has no committed metrics yet.

    `paired` (pipelines.core.intervals.paired: per metric the difference this - base and its interval, at
    `level`) judges the metrics `params.regression_rule` marks non_inferiority: the interval's worse bound
    must stay within max_regression. Without it (the two holdouts differ, or the base recorded no outputs)
    those metrics fall back to the point rule, and the reason says so.
    """
    rules = floor_rules(metrics, params.floors)
    if base is not None:
        for metric, tolerance in params.max_regression.items():
            value, before = metrics.get(metric), base.get(metric)
            if before is None:  # a metric added since the base: shown, never silently skipped
                reason = f"the base reports no {metric}, so its max_regression rule cannot apply (its floor still does)"
                rules.append(Rule("not compared", metric, None, value, True, reason))
                continue
            entry = (paired or {}).get(metric)
            if params.regression_rule.get(metric) == "non_inferiority" and entry is not None and value is not None:
                rules.append(_non_inferiority(metric, tolerance, entry, level))
                continue
            bound = before + tolerance if metric in LOWER_IS_BETTER else before - tolerance
            if value is None:
                rules.append(Rule("regression", metric, bound, None, False, f"{metric} is missing from the metrics"))
                continue
            ok = _meets(metric, value, bound)
            worse = value - before if metric in LOWER_IS_BETTER else before - value
            reason = (
                ""
                if ok
                else f"{metric} regressed by {worse:.4f} against the base ({before:.4f} -> {value:.4f}); "
                f"at most {tolerance:.4f} is allowed"
            )
            if not ok and params.regression_rule.get(metric) == "non_inferiority":
                reason += " (point rule: no paired interval, the two holdouts differ)"
            rules.append(Rule("regression", metric, bound, value, ok, reason))
    return Verdict(rules=rules, has_base=base is not None)


def _non_inferiority(metric: str, tolerance: float, entry: Mapping[str, float], level: float | None) -> Rule:
    """The paired interval of (this - base) must keep its worse bound within `tolerance`."""
    lower = metric in LOWER_IS_BETTER
    bound = float(entry["high"] if lower else entry["low"])
    threshold = tolerance if lower else -tolerance
    ok = bound <= threshold + _EPSILON if lower else bound >= threshold - _EPSILON
    shown = f"{level:.0%} " if level else ""
    reason = (
        ""
        if ok
        else f"{metric}: the paired {shown}interval of this - base is [{entry['low']:+.4f}, {entry['high']:+.4f}]; "
        f"its {'upper' if lower else 'lower'} bound must be {'at most' if lower else 'at least'} {threshold:+.4f} "
        "(non-inferiority)"
    )
    return Rule("non-inferiority", metric, threshold, bound, ok, reason)


def baseline_rule(doc: Mapping[str, Any] | None, mode: str, primary: str) -> Rule | None:
    """The rule against the simpler model (`doc`: reports/baseline.json, pipelines.core.baseline.document) on the
    `primary` metric (None: `mode`, gate.baseline_rule, is "off", or there is no document).

    "simpler_not_better" fails when the baseline is better beyond the interval of candidate - baseline (the
    interval lies wholly on the baseline's side of 0); "beat_baseline" fails unless the candidate is better
    beyond it. A skipped baseline is shown as "not compared", with its reason.
    """
    if mode == "off" or doc is None:
        return None
    name = doc.get("estimator") or "the baseline"
    if doc.get("skipped"):
        return Rule("not compared", primary, None, None, True, str(doc["skipped"]))
    entry = (doc.get("difference") or {}).get(primary)
    if entry is None:
        return Rule("baseline", primary, 0.0, None, False, f"reports/baseline.json has no {primary} difference")
    lower = primary in LOWER_IS_BETTER  # then a negative difference favours the candidate
    d, low, high = float(entry["difference"]), float(entry["low"]), float(entry["high"])
    level = float(doc.get("level", 0.95))
    shown = f"{primary}: candidate - {name} = {d:+.4f}, {level:.0%} interval [{low:+.4f}, {high:+.4f}]"
    if mode == "simpler_not_better":
        bound = low if lower else high  # the candidate's best case
        passed = bound <= 0 if lower else bound >= 0
        reason = "" if passed else f"a simpler model does better: {shown}, wholly on {name}'s side of 0"
    else:
        bound = high if lower else low  # the candidate's worst case
        passed = bound < 0 if lower else bound > 0
        beaten = f"the candidate does not beat {name}: {shown}, not wholly on the candidate's side of 0"
        reason = "" if passed else beaten
    return Rule("baseline", primary, 0.0, bound, passed, reason)


def slice_rules(
    doc: Mapping[str, Any] | None,
    paired: Mapping[str, Mapping[str, Any]] | None,
    pairing: str,
    params: GateParams,
    primary: str,
) -> list[Rule]:
    """The slice rules (pipelines.core.slices): `params.slice_floors` on `doc` (reports/slices.json) and, with
    `params.slice_rule` "no_worse" and a `paired` comparison with the base (per slice: this - base on `primary`
    at a Bonferroni-corrected level), no slice worse than the base beyond its interval and max_regression.

    A floor on a slice too small to judge, or one evaluate did not report, passes as "not compared" with the
    reason; without a paired comparison (`pairing` says why) the regression rule is one "not compared" line:
    the floors still judge each slice.
    """
    rules: list[Rule] = []
    entries = {e["slice"]: e for e in (doc or {}).get("slices", [])}
    for name, floors in params.slice_floors.items():
        entry = entries.get(name)
        if entry is None or not entry.get("judged"):
            why = (
                entry["reason"]
                if entry
                else "evaluate reported no such slice (no holdout row in it, or not in evaluate.slices)"
            )
            rules += [Rule("not compared", metric, None, None, True, f"slice {name}: {why}", name) for metric in floors]
            continue
        reported = entry.get("metrics") or {}
        undefined = [m for m in floors if m in reported and reported[m] is None]  # e.g. r2 where y is constant
        rules += [Rule("not compared", m, None, None, True, f"slice {name}: {m} is undefined on it", name)
                  for m in undefined]  # fmt: skip
        metrics = {k: float(v) for k, v in reported.items() if v is not None}
        for rule in floor_rules(metrics, {m: v for m, v in floors.items() if m not in undefined}):
            reason = f"slice {name}: {rule.reason}" if rule.reason else ""
            rules.append(Rule("slice floor", rule.metric, rule.threshold, rule.value, rule.passed, reason, name))
    if params.slice_rule == "off" or not entries:
        return rules
    if paired is None:
        reason = f"no slice compared with the base ({pairing}); the slices are judged by gate.slice_floors only"
        return [*rules, Rule("not compared", primary, None, None, True, reason, "every slice")]
    tolerance = params.max_regression.get(primary, 0.0)
    lower = primary in LOWER_IS_BETTER
    for name, entry in paired.items():
        if "difference" not in entry:
            rules.append(Rule("not compared", primary, None, None, True, f"slice {name}: {entry['reason']}", name))
            continue
        bound = float(entry["low"] if lower else entry["high"])  # the candidate's best case: worse beyond it fails
        threshold = tolerance if lower else -tolerance
        ok = _meets(primary, bound, threshold)
        reason = (
            ""
            if ok
            else (
                f"slice {name}: {primary} is worse than the base's beyond its paired {float(entry['level']):.1%} "
                f"interval (Bonferroni): this - base = {entry['difference']:+.4f} [{entry['low']:+.4f}, "
                f"{entry['high']:+.4f}], allowed {threshold:+.4f}"
            )
        )
        rules.append(Rule("slice regression", primary, threshold, bound, ok, reason, name))
    return rules


def group_gap_rules(doc: Mapping[str, Any] | None, limits: Mapping[str, Mapping[Any, float]]) -> list[Rule]:
    """gate.max_group_gap on `doc` (reports/inclusion.json, pipelines.core.inclusion): per sensitive column and
    gap, fails when the gap between its judged groups is above the limit. A column evaluate did not measure
    (not in evaluate.sensitive, or fewer than two groups judged) is "not compared", with the reason."""
    rules: list[Rule] = []
    columns = {e["column"]: e for e in (doc or {}).get("columns", [])}
    for column, allowed in limits.items():
        entry = columns.get(column)
        why = "not in evaluate.sensitive" if entry is None else entry.get("reason")
        for gap, limit in allowed.items():
            found = None if entry is None else entry["gaps"].get(gap)
            if found is None:
                rules.append(Rule("not compared", gap, None, None, True, f"{column}: {why or 'not measured'}", column))
                continue
            ok = found["value"] <= limit + _EPSILON
            shown = f"{found['value']:.4f} [{found['low']:.4f}, {found['high']:.4f}]"
            reason = "" if ok else f"{column}: {gap} between its groups = {shown}, above the limit {limit:.4f}"
            rules.append(Rule("group gap", gap, limit, found["value"], ok, reason, column))
    return rules


def feature_rules(
    doc: dict[str, Any] | None,
    base_features: Sequence[str] | None,
    cost: dict[str, Any] | None,
    gate: GateParams,
) -> list[Rule]:
    """The gate's rules on the inputs: gate.feature_rule on `doc` (reports/features.json) against the inputs the
    base's model had (`base_features`, None when the base has no reports/features.json), and gate.feature_budgets
    on `cost` (reports/feature_cost.json, pipelines.core.feature_cost; None when not measured).

    A budget rule per budget: passing, with the largest cost, when no input is over it; else one per input over it,
    failing when that input's benefit is not significant (its interval's lower bound at or below 0)."""
    rules: list[Rule] = []
    entries = {e["feature"]: e for e in (doc or {}).get("features", [])}
    metric = (doc or {}).get("metric", "benefit")
    if gate.feature_rule == "new_features":
        if doc is None or base_features is None:
            why = "no reports/features.json" + (" in the workspace" if doc is None else " on the base")
            rules.append(Rule("not compared", metric, None, None, True, f"feature benefit: {why}"))
        for name in [n for n in entries if base_features is not None and n not in set(base_features)]:
            e = entries[name]
            ok = not e["flagged"]
            reason = "" if ok else (
                f"{name} is a new input whose removal does not hurt: benefit on {metric} {_shown(e)}, upper bound at "
                f"or below evaluate.benefit_margin {doc['margin']:g}"  # type: ignore[index]
            )  # fmt: skip
            rules.append(Rule("feature benefit", metric, float(doc["margin"]), e["high"], ok, reason, name))  # type: ignore[index]
    budgets = {k: v for k, v in gate.feature_budgets.model_dump().items() if v is not None}
    if budgets and cost is None:
        rules.append(Rule("not compared", "feature cost", None, None, True,
                          "reports/feature_cost.json is missing: run `python -m pipelines feature-cost`"))  # fmt: skip
    for name, budget in budgets.items() if cost is not None else ():
        measured = [(e[name], e["feature"]) for e in cost["features"]]  # type: ignore[index]
        over = [(value, feature) for value, feature in measured if value > budget]
        if not over and measured:
            value, feature = max(measured)
            rules.append(Rule("feature cost", name, budget, value, True, "", feature))
        for value, feature in over:
            e = entries.get(feature)
            significant = e is not None and e["low"] is not None and e["low"] > 0
            reason = "" if significant else (
                f"{feature} adds {value:g} {UNITS[name]} (gate.feature_budgets.{name}: {budget:g}) and its benefit "
                f"is not significant: {metric} {_shown(e) if e else 'not measured'}"
            )  # fmt: skip
            rules.append(Rule("feature cost", name, budget, value, significant, reason, feature))
    return rules


UNITS = {"latency_us": "µs to scoring one row", "train_seconds": "s to the fit", "train_mib": "MiB to the fit's peak"}


def _shown(e: Mapping[str, Any]) -> str:
    def f(v: Any) -> str:
        return "nan" if v is None else f"{v:+.4f}"

    return f"{f(e['benefit'])} [{f(e['low'])}, {f(e['high'])}]"
