"""Exact interventional Shapley values of a tree ensemble, with the raw input columns as the players.

The game, for one explained row x and a background sample z_1..z_N (rows of the training split):
v(S) = (1/N) sum_n f(T(x_S, z_n,rest)), where T is the fitted preprocessing (impute, scale, one-hot: each
transformed column depends on one raw column) and f the ensemble's output on the scale it sums on (a forest's
class probability or value; gradient boosting's raw score). A raw column in S takes x's value, the others
z_n's, so all the one-hot columns of a categorical input move together. The Shapley values then add up to
f(x) - mean_n f(z_n) exactly (efficiency): no sampling, no approximation.

Per reference z and per leaf, the leaf is reached by the hybrid row exactly when every raw column in A (the
splits on the path that x passes and z fails) comes from x and none in B (z passes, x fails) does: an AND game
whose Shapley values are (|A|-1)!|B|!/(|A|+|B|)! for a column in A and -|A|!(|B|-1)!/(|A|+|B|)! for one in B.
Summed over leaves (times the leaf's value) and averaged over references, that is the interventional Tree
SHAP algorithm: Lundberg et al. 2020, "From local explanations to global understanding with explainable AI for
trees", Nature Machine Intelligence 2:56-67 (Methods, "Interventional Tree SHAP"); the single-reference game
is Sundararajan and Najmi 2020, "The many Shapley values for model explanation" (Baseline Shapley). Here it is
vectorised over references and leaves with NumPy, and grouped by raw column.

Reads scikit-learn's fitted trees: `tree_` of forests (RandomForest*, ExtraTrees*, DecisionTree*) and
`_predictors` / `_baseline_prediction` of HistGradientBoosting* (private, as SHAP reads them too); the caller
checks the ensemble's value computed here against the estimator's own output, so a change in those internals
fails loudly instead of explaining another model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Tree:
    """One fitted tree as arrays over its nodes: the split (`feature`, `threshold`, `missing_left`: where NaN
    goes), the children (-1 at a leaf), and `value` (nodes x outputs), already weighted as the ensemble sums it."""

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    missing_left: np.ndarray
    value: np.ndarray
    float32: bool  # scikit-learn's DecisionTree compares float32 inputs with its thresholds


@dataclass(frozen=True)
class Ensemble:
    """A tree ensemble: `offset` (outputs) plus the sum of its trees' leaf values is its output on `scale`."""

    trees: list[Tree]
    offset: np.ndarray
    scale: str  # "probability", "value", or "raw score"


def ensemble(estimator: Any) -> Ensemble | None:
    """The trees of a fitted RandomForest*/ExtraTrees*/DecisionTree* (class probabilities, or values: the mean
    over trees) or HistGradientBoosting* (raw scores: the baseline plus every tree's leaf value), one output per
    class (a binary classifier's boosting: one, the positive class's log-odds); None for another estimator.

    Raises ValueError for what this method cannot read: several regression targets, or boosting's native
    categorical splits."""
    if hasattr(estimator, "_predictors") and hasattr(estimator, "_baseline_prediction"):
        return _boosting(estimator)
    trees = getattr(estimator, "estimators_", None)
    if hasattr(estimator, "tree_"):
        trees = [estimator]
    if trees is None or not all(hasattr(t, "tree_") for t in trees):
        return None
    classifier = hasattr(estimator, "classes_")
    found = []
    for fitted in trees:
        t = fitted.tree_
        if t.n_outputs != 1:
            raise ValueError("a tree ensemble with several outputs is not explained")
        value = np.asarray(t.value[:, 0, :], dtype=np.float64)
        if classifier:  # predict_proba normalises each leaf's (weighted) class counts
            totals = value.sum(axis=1, keepdims=True)
            value = np.divide(value, totals, out=np.zeros_like(value), where=totals > 0)
        missing = getattr(t, "missing_go_to_left", None)  # trees fit where NaN was seen send it one way
        missing_left = np.zeros(t.node_count, bool) if missing is None else np.asarray(missing, bool)
        found.append(Tree(
            np.asarray(t.feature), np.asarray(t.threshold, dtype=np.float64), np.asarray(t.children_left),
            np.asarray(t.children_right), missing_left, value / len(trees), True,
        ))  # fmt: skip
    outputs = found[0].value.shape[1]
    return Ensemble(found, np.zeros(outputs), "probability" if classifier else "value")


def _boosting(estimator: Any) -> Ensemble:
    baseline = np.asarray(estimator._baseline_prediction, dtype=np.float64).ravel()
    outputs = len(baseline)
    found = []
    for iteration in estimator._predictors:
        for k, predictor in enumerate(iteration):
            nodes = predictor.nodes
            if np.any(nodes["is_categorical"][~nodes["is_leaf"].astype(bool)]):
                raise ValueError("boosting with native categorical splits is not explained")
            leaf = nodes["is_leaf"].astype(bool)
            value = np.zeros((len(nodes), outputs))
            value[:, k] = np.where(leaf, nodes["value"], 0.0)
            found.append(Tree(
                np.asarray(nodes["feature_idx"], dtype=np.int64), np.asarray(nodes["num_threshold"], dtype=np.float64),
                np.where(leaf, -1, nodes["left"].astype(np.int64)), np.where(leaf, -1, nodes["right"].astype(np.int64)),
                nodes["missing_go_to_left"].astype(bool), value, False,
            ))  # fmt: skip
    return Ensemble(found, baseline, "raw score")


def _goes_left(tree: Tree, rows: np.ndarray) -> np.ndarray:
    """rows x nodes: whether each row goes left at each node (meaningless at leaves)."""
    if tree.float32:
        rows = rows.astype(np.float32).astype(np.float64)
    node_features = np.maximum(tree.feature, 0)
    values = rows[:, node_features]
    return np.where(np.isnan(values), tree.missing_left[None, :], values <= tree.threshold[None, :])


def _leaf_of(tree: Tree, rows: np.ndarray) -> np.ndarray:
    """The leaf each row reaches."""
    left = _goes_left(tree, rows)
    node = np.zeros(len(rows), dtype=np.int64)
    active = tree.left[node] >= 0
    while active.any():
        index = np.flatnonzero(active)
        here = node[index]
        node[index] = np.where(left[index, here], tree.left[here], tree.right[here])
        active = tree.left[node] >= 0
    return node


def output(model: Ensemble, rows: np.ndarray) -> np.ndarray:
    """The ensemble's output (rows x outputs) on transformed rows, read from its trees."""
    total = np.tile(model.offset, (len(rows), 1))
    for tree in model.trees:
        total += tree.value[_leaf_of(tree, rows)]
    return total


def _paths(tree: Tree) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per leaf, its root-to-leaf path padded to the deepest: (leaves, nodes L x D, went left L x D, valid L x D)."""
    leaves, paths = [], []
    stack: list[tuple[int, list[tuple[int, bool]]]] = [(0, [])]
    while stack:
        node, path = stack.pop()
        if tree.left[node] < 0:
            leaves.append(node)
            paths.append(path)
            continue
        stack.append((int(tree.right[node]), [*path, (node, False)]))
        stack.append((int(tree.left[node]), [*path, (node, True)]))
    depth = max(1, max(len(p) for p in paths))
    nodes = np.zeros((len(paths), depth), dtype=np.int64)
    went_left = np.zeros((len(paths), depth), dtype=bool)
    valid = np.zeros((len(paths), depth), dtype=bool)
    for i, path in enumerate(paths):
        for j, (n, side) in enumerate(path):
            nodes[i, j], went_left[i, j], valid[i, j] = n, side, True
    return np.asarray(leaves, dtype=np.int64), nodes, went_left, valid


def _weights(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(W+, W-), each (size+1) x (size+1): W+[a, b] = (a-1)! b! / (a+b)! for a >= 1, W-[a, b] = a! (b-1)! / (a+b)!
    for b >= 1: the Shapley value of a column the leaf needs from x (from z) when it needs a columns from x and b
    from z."""
    plus, minus = np.zeros((size + 1, size + 1)), np.zeros((size + 1, size + 1))
    for a in range(size + 1):
        for b in range(size + 1):
            if a:
                plus[a, b] = math.exp(math.lgamma(a) + math.lgamma(b + 1) - math.lgamma(a + b + 1))
            if b:
                minus[a, b] = math.exp(math.lgamma(a + 1) + math.lgamma(b) - math.lgamma(a + b + 1))
    return plus, minus


def _tree_values(tree: Tree, x: np.ndarray, background: np.ndarray, raw_of: np.ndarray, n_raw: int) -> np.ndarray:
    """One tree's Shapley values (raw columns x outputs), averaged over the background rows."""
    leaves, nodes, went_left, valid = _paths(tree)
    x_ok = (_goes_left(tree, x[None, :])[0][nodes] == went_left) | ~valid  # L x D
    z_ok = (_goes_left(tree, background)[:, nodes] == went_left[None]) | ~valid[None]  # N x L x D
    columns, compact = np.unique(raw_of[np.maximum(tree.feature[nodes], 0)], return_inverse=True)
    member = (compact.reshape(nodes.shape)[..., None] == np.arange(len(columns))) & valid[..., None]  # L x D x C
    from_x = np.matmul((x_ok[None] & ~z_ok).transpose(1, 0, 2).astype(float), member.astype(float)) > 0  # L x N x C
    from_z = np.matmul((~x_ok[None] & z_ok).transpose(1, 0, 2).astype(float), member.astype(float)) > 0
    dead = (~x_ok[None] & ~z_ok).any(axis=2).T | (from_x & from_z).any(axis=2)  # L x N
    a, b = from_x.sum(axis=2), from_z.sum(axis=2)
    plus, minus = _weights(nodes.shape[1])
    share = (plus[a, b][..., None] * from_x - minus[a, b][..., None] * from_z) * ~dead[..., None]  # L x N x C
    values = np.einsum("lnc,lk->ck", share, tree.value[leaves]) / len(background)
    found = np.zeros((n_raw, tree.value.shape[1]))
    found[columns] = values
    return found


def shapley_values(model: Ensemble, x: np.ndarray, background: np.ndarray, raw_of: np.ndarray, n_raw: int) -> Any:
    """Interventional Shapley values (n_raw x outputs) of the transformed row `x` (features), against the
    transformed `background` (rows x features), with transformed column j belonging to raw column `raw_of[j]`,
    and the expected value (outputs: the ensemble's mean output on the background). Exact: the values add up to
    output(x) - expected value up to floating-point rounding."""
    values = np.zeros((n_raw, len(model.offset)))
    for tree in model.trees:
        values += _tree_values(tree, np.asarray(x, dtype=np.float64), background, raw_of, n_raw)
    return values, output(model, background).mean(axis=0)
