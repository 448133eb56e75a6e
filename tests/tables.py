"""Tables that are not the bundled example, for trying `init` as a forked project would.

Each is built from data scikit-learn ships (no network) plus the awkward parts real tables have:
text labels, categories, missing values, unusual column names, identifiers and timestamps, an
imbalanced label. The suite adapts copies of the template to them; the self-test workflow runs
`make init`, `make run` and `make test` on each (`make table KIND=... OUT=...`).

    python -m tests.tables binary|multiclass|regression|imbalanced|drillholes OUT.csv|OUT.parquet
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

TARGETS = {"binary": "diagnosis", "multiclass": "cultivar", "regression": "progression", "imbalanced": "churned",
           "drillholes": "au_gpt"}  # fmt: skip
"""The column to predict in each table (`init --target`)."""


def _stamps(rng: np.random.Generator, n: int) -> pd.Series:
    start = pd.Timestamp("2024-01-01")
    return pd.Series(start + pd.to_timedelta(np.sort(rng.integers(0, 365 * 24 * 60, n)), unit="min")).dt.strftime(
        "%Y-%m-%d %H:%M"
    )


def binary() -> pd.DataFrame:
    """569 rows: 10 breast-cancer measurements under unusual names, a text label ("benign"/"malignant"),
    a site code where "NA" (Namibia) is a value, a record id and a timestamp."""
    from sklearn.datasets import load_breast_cancer

    rng = np.random.default_rng(11)
    data = load_breast_cancer(as_frame=True).frame
    names = ["mean radius", "mean texture", "mean perimeter", "mean area", "mean smoothness"]
    frame = pd.DataFrame({
        "record_id": np.arange(100_001, 100_001 + len(data)),
        "seen at": _stamps(rng, len(data)),
        "Radius (mm)": data[names[0]].round(3),
        "texture": data[names[1]].round(3),
        "2nd perimeter": data[names[2]].round(2),
        "área": data[names[3]].round(1),
        "class": data[names[4]].round(5),  # a Python keyword
        "columns": data["worst radius"].round(3),  # a DataFrame attribute
        "worst concave points": data["worst concave points"].round(4),
        "site": rng.choice(["NA", "ZA", "BW", "None"], len(data), p=[0.4, 0.3, 0.2, 0.1]),
    })  # fmt: skip
    frame["diagnosis"] = np.where(data["target"] == 0, "malignant", "benign")
    return frame


def multiclass() -> pd.DataFrame:
    """600 rows of the wine data (178 resampled with noise): text labels, two categorical columns, about 8%
    missing values in numeric and text columns alike, names with punctuation, a keyword, a digit, unicode."""
    from sklearn.datasets import load_wine

    rng = np.random.default_rng(12)
    wine = load_wine(as_frame=True)
    base = wine.frame.sample(600, replace=True, random_state=12).reset_index(drop=True)
    names = {"alcohol": "Alcohol (%)", "malic_acid": "class", "ash": "2nd ash", "magnesium": "magnésium"}
    frame = base.drop(columns="target").rename(columns=lambda c: names.get(str(c), str(c).replace("/", " per ")))
    numeric = frame.columns.tolist()
    frame[numeric] = (frame[numeric] * rng.normal(1.0, 0.03, frame[numeric].shape)).round(4)
    frame["region"] = rng.choice(["north", "south", "east", "west"], len(frame))
    frame["cask"] = np.where(base["target"] == 2, "oak", rng.choice(["oak", "steel"], len(frame)))
    for column in [numeric[0], numeric[5], "region"]:
        frame.loc[rng.random(len(frame)) < 0.08, column] = np.nan
    frame["cultivar"] = np.array(["barbera", "grignolino", "nebbiolo"])[base["target"]]
    return frame


def regression() -> pd.DataFrame:
    """442 rows of the diabetes data (raw, unscaled): a number to predict, a categorical sex column and a
    few missing values; write it as Parquet."""
    from sklearn.datasets import load_diabetes

    rng = np.random.default_rng(13)
    data = load_diabetes(as_frame=True, scaled=False)
    frame = data.frame.rename(columns={"target": "progression"})
    frame["sex"] = np.where(frame["sex"] == 1, "female", "male")
    frame.loc[rng.random(len(frame)) < 0.05, "bmi"] = np.nan
    frame["age"] = frame["age"].astype(float)  # whole numbers in a float column
    return frame


def imbalanced() -> pd.DataFrame:
    """2,000 rows, 2.4% positives ("yes"): a churn-like table where predicting "no" is 97.6% accurate; a text
    feature of 140 values shared unevenly (a region code: most values are rare), a branch id of 140 values
    (named like an identifier: init leaves it out) and a sign-up timestamp."""
    rng = np.random.default_rng(14)
    n = 2000
    tenure = rng.exponential(24, n).round(1)
    spend = rng.normal(50, 15, n).round(2)
    tickets = rng.poisson(1.0, n).astype(float)
    plan = rng.choice(["basic", "plus", "pro"], n)
    risk = -4.6 + 0.9 * tickets - 0.04 * tenure + 0.5 * (plan == "basic")
    churned = rng.random(n) < 1 / (1 + np.exp(-risk))
    positives = np.flatnonzero(churned)
    keep = positives[: int(0.024 * n)]
    churned[:] = False
    churned[keep] = True
    zipf = 1 / np.arange(1, 141)
    region = np.array([f"R{i:03d}" for i in range(140)], dtype=object)[rng.choice(140, n, p=zipf / zipf.sum())]
    branch = np.array([f"BR-{i:03d}" for i in range(140)], dtype=object)[rng.integers(0, 140, n)]
    return pd.DataFrame({
        "tenure_months": tenure, "monthly_spend": spend, "support_tickets": tickets, "plan": plan,
        "region_code": region, "branch_id": branch, "signed_up": _stamps(rng, n),
        "churned": np.where(churned, "yes", "no"),
    })  # fmt: skip


def drillholes() -> pd.DataFrame:
    """1,500 drill samples (write it as Parquet): a grade to predict from depth, rock type and assays; a hole id
    of 200 values (an identifier init leaves out), a categorical with 6 rock types, missing assays."""
    rng = np.random.default_rng(15)
    n = 1500
    rock = rng.choice(["basalt", "granite", "schist", "gneiss", "shale", "quartzite"], n,
                      p=[0.3, 0.25, 0.15, 0.15, 0.1, 0.05])  # fmt: skip
    depth = rng.gamma(2.0, 60.0, n).round(1)
    copper = rng.lognormal(0.0, 0.6, n).round(3)
    sulphur = rng.normal(2.0, 0.7, n).clip(0).round(2)
    bonus = pd.Series(rock).map({"basalt": 0.4, "granite": -0.2, "schist": 0.1, "gneiss": 0.0, "shale": -0.3,
                                 "quartzite": 0.6}).to_numpy()  # fmt: skip
    grade = 0.8 + 0.6 * copper + 0.3 * sulphur - 0.002 * depth + bonus + rng.normal(0, 0.25, n)
    frame = pd.DataFrame({
        "hole_id": np.array([f"DH{i:04d}" for i in range(200)], dtype=object)[rng.integers(0, 200, n)],
        "depth_m": depth, "rock_type": rock, "cu_pct": copper, "s_pct": sulphur, "au_gpt": grade.round(3),
    })  # fmt: skip
    frame.loc[rng.random(n) < 0.04, "s_pct"] = np.nan
    return frame


TABLES: dict[str, Callable[[], pd.DataFrame]] = {
    "binary": binary,
    "multiclass": multiclass,
    "regression": regression,
    "imbalanced": imbalanced,
    "drillholes": drillholes,
}


def write(kind: str, out: Path) -> Path:
    """Write table `kind` to `out` (CSV, or Parquet by suffix) with stable bytes; return `out`."""
    frame = TABLES[kind]()
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        frame.to_parquet(out, index=False)
    else:
        frame.to_csv(out, index=False, lineterminator="\n")
    return out


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in TABLES:
        sys.exit(f"usage: python -m tests.tables {{{'|'.join(TABLES)}}} OUT.csv|OUT.parquet")
    path = write(sys.argv[1], Path(sys.argv[2]))
    print(f"wrote {path} (target: {TARGETS[sys.argv[1]]})")
