"""Drift monitoring: a reference profile of the training inputs, and live inputs compared with it.

The reference (written by `train` next to the model, committed) keeps, per numeric feature, 101
quantiles (for a Kolmogorov-Smirnov test against the training distribution) and decile edges
with the training share in each bin (for the population stability index); per categorical
feature, and per numeric feature with only a few distinct values (a flag, a count, a constant:
"discrete"), the share of each value, compared by PSI and a chi-square goodness-of-fit test (a KS
test assumes a continuous distribution and, on ties, flags a constant as drifted); and every
feature's missing rate. Live inputs come from the service's
prediction log (read by pipelines.adapters.sources); the report is rendered by pipelines.core.reports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

PSI_EPSILON = 1e-4  # share given to an empty bin, so the logarithm stays finite
MIN_EXPECTED = 5.0  # chi-square cells expected fewer times than this are pooled (Cochran's rule)


def value_label(value: Any) -> str:
    """How a value of a discrete numeric feature is named in the reference (10 significant digits)."""
    return f"{float(value):.10g}"


def reference_profile(
    frame: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    bins: int,
    max_discrete: int,
    personal: Sequence[str] = (),
) -> dict[str, Any]:
    """Per-feature reference of the training inputs (JSON-ready, deterministic): `rows` and, per feature,
    its kind, missing rate and either quantiles, decile `edges` and `shares` (numeric, `bins` bins), or
    the share of each value (categorical, and "discrete": numeric with at most `max_discrete` values).

    A `personal` feature is left out (its quantiles, edges and values are people's values, and the prediction
    log does not keep it to compare with) and named under `not_monitored` (feature -> "personal"), which is
    written only when there is one."""
    features: dict[str, Any] = {}
    numeric = [name for name in numeric if name not in personal]
    categorical = [name for name in categorical if name not in personal]
    for name in numeric:
        values = frame[name].to_numpy(dtype=float)
        present = values[~np.isnan(values)]
        if len(np.unique(present)) <= max_discrete:
            counts = pd.Series(present).map(value_label).value_counts(normalize=True).sort_index()
            features[name] = {
                "kind": "discrete",
                "missing_rate": round(float(np.isnan(values).mean()), 6),
                "shares": {str(k): round(float(v), 8) for k, v in counts.items()},
            }
            continue
        quantiles = np.quantile(present, np.linspace(0, 1, 101))
        edges = np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)))
        shares = _shares(present, edges)
        features[name] = {
            "kind": "numeric",
            "missing_rate": round(float(np.isnan(values).mean()), 6),
            "quantiles": [float(f"{q:.10g}") for q in quantiles],
            "edges": [float(f"{e:.10g}") for e in edges],
            "shares": [round(float(s), 8) for s in shares],
        }
    for name in categorical:
        column = frame[name]
        counts = column.dropna().astype(str).value_counts(normalize=True).sort_index()
        features[name] = {
            "kind": "categorical",
            "missing_rate": round(float(column.isna().mean()), 6),
            "shares": {str(k): round(float(v), 8) for k, v in counts.items()},
        }
    left_out = {str(name): "personal" for name in personal}
    return {"rows": len(frame), "features": features, **({"not_monitored": left_out} if left_out else {})}


def monitored(reference: Mapping[str, Any], personal: Sequence[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """(the reference without the features that are not monitored, those features -> why): the reference's own
    `not_monitored` and the contract's `personal` inputs, whose values the prediction log does not keep (a
    reference written before they were tagged still profiles them; their missing rate would read as drift)."""
    skipped = {**{str(name): "personal" for name in personal}, **reference.get("not_monitored", {})}  # input order
    features = {name: ref for name, ref in reference["features"].items() if name not in skipped}
    return {**reference, "features": features}, skipped


def _shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share of `values` in each bin between consecutive edges; the outer bins are open-ended."""
    if len(edges) < 2:
        return np.array([1.0])
    index = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
    counts = np.bincount(index, minlength=len(edges) - 1)
    return counts / max(len(values), 1)


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index between two share vectors: sum (a - e) * ln(a / e)."""
    e = np.clip(np.asarray(expected, dtype=float), PSI_EPSILON, None)
    a = np.clip(np.asarray(actual, dtype=float), PSI_EPSILON, None)
    return float(np.sum((a - e) * np.log(a / e)))


def _reference_cdf(quantiles: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct quantile values with the CDF's left limit and value at each: a point mass (a value
    repeated among the quantiles) is a jump from the first to the last level it holds."""
    q = np.asarray(quantiles, dtype=float)
    levels = np.linspace(0, 1, len(q))
    points, first = np.unique(q, return_index=True)
    last = np.append(first[1:], len(q)) - 1
    return points, levels[first], levels[last]


def _cdf(x: np.ndarray, points: np.ndarray, left: np.ndarray, right: np.ndarray, limit: str) -> np.ndarray:
    """F(x) (limit="right") or F(x-) (limit="left"): linear between the distinct points, jumps at them."""
    k = np.searchsorted(points, x, side="right") - 1  # points[k] <= x
    out = np.ones_like(x)
    out[k < 0] = 0.0
    inside = (k >= 0) & (k < len(points) - 1)
    kk = k[inside]
    span = points[kk + 1] - points[kk]
    out[inside] = right[kk] + (left[kk + 1] - right[kk]) * (x[inside] - points[kk]) / span
    on = (k >= 0) & (x == points[np.clip(k, 0, None)])
    out[on] = (right if limit == "right" else left)[k[on]]
    return out


def ks_against_quantiles(
    values: np.ndarray, quantiles: Sequence[float], reference_rows: float | None = None
) -> tuple[float, float]:
    """Kolmogorov-Smirnov test of `values` against the CDF the reference quantiles describe.

    The statistic is sup |ECDF - F| taken at both limits of every observed value, so point masses in
    the reference (many zeros, say) are compared as jumps rather than read as drift. The p-value is the
    Kolmogorov distribution's (scipy.stats.kstwo, exact, for up to 10,000 values; the asymptotic
    kstwobign above), conservative where F has jumps. With `reference_rows` (m, the training rows the
    quantiles came from) the test is the two-sample one: n is replaced by n m / (n + m), so a reference of 48
    rows is not taken for the exact distribution. Source: Conover (1999), Practical Nonparametric
    Statistics, 3rd ed., sections 6.1 and 6.3.
    """
    from scipy import stats

    points, left, right = _reference_cdf(quantiles)
    observed, counts = np.unique(np.asarray(values, dtype=float), return_counts=True)
    n = int(counts.sum())
    below_or_at = np.cumsum(counts) / n
    below = below_or_at - counts / n
    statistic = float(
        max(
            np.max(np.abs(below_or_at - _cdf(observed, points, left, right, "right"))),
            np.max(np.abs(below - _cdf(observed, points, left, right, "left"))),
        )
    )
    size = n if not reference_rows else max(1, round(n * reference_rows / (n + reference_rows)))
    pvalue = stats.kstwo.sf(statistic, size) if size <= 10_000 else stats.kstwobign.sf(statistic * np.sqrt(size))
    return statistic, float(min(max(pvalue, 0.0), 1.0))


def psi_noise(cells: int, n: int, m: float, alpha: float) -> float:
    """The PSI that two samples of n and m rows from the same distribution exceed by chance with probability
    `alpha`, over `cells` cells: chi2.ppf(1 - alpha, cells - 1) (1/n + 1/m). PSI is Jeffreys' divergence J of the
    two share vectors, and n m / (n + m) J is asymptotically chi-square with cells - 1 degrees of freedom
    (Kullback 1959, Information Theory and Statistics, ch. 5)."""
    from scipy import stats

    if cells < 2:
        return 0.0
    return float(stats.chi2.ppf(1 - alpha, cells - 1)) * (1 / max(n, 1) + 1 / max(m, 1.0))


def missing_shift(before: float, now: float, m: float, n: int) -> float:
    """Two-proportion z-test p-value for a missing rate `before` in m reference rows and `now` in n live rows
    (pooled standard error; 1.0 when both rates are 0 or 1)."""
    from scipy import stats

    pooled = (before * m + now * n) / (m + n)
    spread = np.sqrt(pooled * (1 - pooled) * (1 / max(m, 1.0) + 1 / max(n, 1)))
    return 1.0 if spread == 0 else float(2 * stats.norm.sf(abs(now - before) / spread))


def chi_square(
    expected: Mapping[str, float], reference_rows: float, observed: pd.Series
) -> tuple[float, float, float] | None:
    """Chi-square test of homogeneity between the training values (the reference `expected` shares of
    `reference_rows` present rows) and the observed live values (labels): two samples, so the reference's own
    sampling noise is not read as drift.

    Returns (statistic, p-value, Cramér's V = sqrt(statistic / all rows), the effect size in [0, 1]), or
    None when there is nothing to test (no rows, or a single value seen anywhere: no degrees of freedom).
    Cells expected fewer than MIN_EXPECTED times are pooled, the values training saw in one cell and those it
    never saw in another, so sparse tails are not drift while new values still count. Sources: Cramér (1946),
    Mathematical Methods of Statistics, 21.9 (V); Cochran (1954), Biometrics 10 (the pooling);
    scipy.stats.chi2_contingency.
    """
    from scipy import stats

    counts = observed.value_counts()
    n = int(counts.sum())
    categories = sorted(set(expected) | set(counts.index))
    if n == 0 or len(categories) < 2 or reference_rows <= 0:
        return None
    table = np.array([
        [float(expected.get(c, 0.0)) * reference_rows for c in categories],
        [float(counts.get(c, 0)) for c in categories],
    ])  # fmt: skip
    cell = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    rare = cell.min(axis=0) < MIN_EXPECTED
    if rare.any():  # rare values pooled: those training saw in one cell, those it never saw in another
        new = np.array([c not in expected for c in categories])
        pooled = [table[:, rare & ~new].sum(axis=1), table[:, rare & new].sum(axis=1)]
        table = np.column_stack([table[:, ~rare], *pooled])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return None
    statistic, pvalue, _, _ = stats.chi2_contingency(table, correction=False)
    return float(statistic), float(pvalue), float(np.sqrt(statistic / table.sum()))


def pooled_shares(expected: Mapping[str, float], observed: pd.Series, cells: int) -> tuple[np.ndarray, np.ndarray]:
    """(reference shares, live shares) over at most `cells` + 1 cells: the commonest reference values (ties by
    name) expected at least MIN_EXPECTED times among the live rows, one cell pooling the other values training
    saw, and one for the values it never saw (a flood of new ids is drift; a spread of known rare ones is not)."""
    n = len(observed)
    ordered = sorted(expected.items(), key=lambda kv: (-kv[1], kv[0]))
    kept = [k for k, share in ordered if share * n >= MIN_EXPECTED][: max(cells - 1, 1)]
    now = observed.value_counts(normalize=True)
    ref = [float(expected[k]) for k in kept]
    live = [float(now.get(k, 0.0)) for k in kept]
    unseen = float(sum(v for k, v in now.items() if k not in expected))
    ref += [max(0.0, 1.0 - sum(ref)), 0.0]
    live += [max(0.0, 1.0 - sum(live) - unseen), unseen]
    keep = [i for i in range(len(ref)) if ref[i] > 0 or live[i] > 0]
    return np.array(ref)[keep], np.array(live)[keep]


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's drift statistics and verdict (`reasons` say which thresholds it crossed)."""

    name: str
    psi: float
    ks_statistic: float | None
    ks_pvalue: float | None
    chi2_effect: float | None  # Cramér's V of the chi-square test (categorical and discrete features)
    chi2_pvalue: float | None
    missing_before: float
    missing_now: float
    drifted: bool
    reasons: list[str]


@dataclass(frozen=True)
class DriftReport:
    """Every feature's drift over `rows` live rows."""

    rows: int
    features: list[FeatureDrift]

    @property
    def drifted(self) -> list[FeatureDrift]:
        """The features that drifted."""
        return [f for f in self.features if f.drifted]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: rows, whether anything drifted, which features, every feature's statistics."""
        return {
            "rows": self.rows,
            "drift": bool(self.drifted),
            "drifted_features": [f.name for f in self.drifted],
            "features": {f.name: {k: v for k, v in f.__dict__.items() if k != "name"} for f in self.features},
        }


def detect_drift(
    live: pd.DataFrame,
    reference: Mapping[str, Any],
    psi_threshold: float,
    ks_alpha: float,
    ks_min_statistic: float,
    missing_rate_change: float,
    chi2_min_effect: float,
    cells: int,
) -> DriftReport:
    """Each feature of `live` (rows x features; missing values as NaN or None) against the reference.

    A categorical or discrete feature's PSI is taken over at most `cells` cells (train.reference_bins, as many
    as a numeric feature's bins): its commonest values that the live rows are expected to hold at least
    MIN_EXPECTED times each, one cell for its other values and one for values training never saw. Over one
    cell per value, PSI's sampling noise alone grows with the number of values (about (K - 1) / n for K values
    and n live rows: 1.0 for 200 ids in 200 rows), so an identifier-like column would drift on every run.

    Any feature drifts when its PSI exceeds `psi_threshold` and what chance alone exceeds between samples of
    these sizes at the corrected level below (psi_noise: it matters for small samples only), or when its
    missing rate moves by more than `missing_rate_change` and a two-proportion test rejects at that level (a
    48-row reference's rate is itself uncertain).
    A continuous numeric feature also drifts when the KS test rejects at `ks_alpha`
    (Bonferroni-corrected over the features) with a KS distance of at least `ks_min_statistic`; a
    categorical or discrete one when the chi-square test rejects at the same level with Cramér's V of at
    least `chi2_min_effect`. Large samples make tiny shifts significant; the effect sizes keep them quiet.
    """
    features = reference["features"]
    alpha = ks_alpha / max(len(features), 1)
    results = []
    for name, ref in features.items():
        column = live[name] if name in live else pd.Series([np.nan] * len(live))
        missing_now = float(column.isna().mean()) if len(column) else 0.0
        reasons = []
        ks_stat = ks_p = chi_w = chi_p = None
        if ref["kind"] == "numeric":
            values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
            present = values[~np.isnan(values)]
            value = psi(np.array(ref["shares"]), _shares(present, np.array(ref["edges"]))) if len(present) else 0.0
            counted = (len(ref["shares"]), len(present))
            if len(present):
                ks_stat, ks_p = ks_against_quantiles(
                    present, ref["quantiles"], reference["rows"] * (1 - ref["missing_rate"])
                )
                if ks_p < alpha and ks_stat >= ks_min_statistic:
                    reasons.append(f"KS {ks_stat:.3f} (p={ks_p:.2g})")
        else:
            if ref["kind"] == "discrete":
                numbers = pd.to_numeric(column, errors="coerce").dropna()
                labels = numbers.map(value_label) if len(numbers) else pd.Series([], dtype=str)
            else:
                labels = column.dropna().astype(str)
            expected, observed = pooled_shares(ref["shares"], labels, cells)
            value = psi(expected, observed) if len(labels) else 0.0
            counted = (len(expected), len(labels))
            present_rows = reference["rows"] * (1 - ref["missing_rate"])
            tested = chi_square(ref["shares"], present_rows, labels)
            if tested is not None:
                _, chi_p, chi_w = tested
                if chi_p < alpha and chi_w >= chi2_min_effect:
                    reasons.append(f"chi-square V={chi_w:.3f} (p={chi_p:.2g})")
        present_ref = reference["rows"] * (1 - ref["missing_rate"])
        if value > max(psi_threshold, psi_noise(counted[0], counted[1], present_ref, alpha)):
            reasons.append(f"PSI {value:.3f}")
        moved = abs(missing_now - ref["missing_rate"]) > missing_rate_change
        if moved and missing_shift(ref["missing_rate"], missing_now, reference["rows"], len(column)) < alpha:
            reasons.append(f"missing rate {ref['missing_rate']:.3f} -> {missing_now:.3f}")
        results.append(
            FeatureDrift(
                name,
                round(value, 6),
                ks_stat,
                ks_p,
                chi_w,
                chi_p,
                ref["missing_rate"],
                round(missing_now, 6),
                bool(reasons),
                reasons,
            )
        )
    return DriftReport(rows=len(live), features=results)
