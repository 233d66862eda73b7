"""The baselines every run is compared against (TW-A08): dummy, linear and LightGBM.

Dummy and linear models are fitted with scikit-learn, then carried into the same
:class:`~trainwell.model.TabularNet` wrapper as the network (constant or linear head behind the
same preprocessing layer), so whichever model wins is saved and served the same way.
LightGBM is saved in its own text format.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import torch
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge

from trainwell.candidates import LightGBMCandidate, NetworkCandidate, lightgbm_matrix
from trainwell.config import Task
from trainwell.models.tabular import ConstantHead, TabularNet, n_outputs
from trainwell.preprocess import TabularInput
from trainwell.train.threads import table_threads


@dataclass
class Arrays:
    """One split, encoded: numeric features (NaN = missing), category codes, target."""

    num: np.ndarray
    cat: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


def _scaled_target(net: TabularNet, y: np.ndarray) -> np.ndarray:
    return (y - float(net.target_mean)) / float(net.target_std)


def fit_dummy(
    task: Task, train: Arrays, template: TabularInput, n_classes: int
) -> NetworkCandidate:
    """Predict the class prior or the mean: the floor every model must clear."""
    net = TabularNet(
        template, {"type": "constant", "in": 0, "out": n_outputs(task, n_classes)}, task
    )
    if task == "regression":
        set_target_scaling(net, train.y)
        dummy = DummyRegressor(strategy="mean").fit(train.num, _scaled_target(net, train.y))
        bias = np.atleast_1d(dummy.constant_).ravel()
    else:
        clf = DummyClassifier(strategy="prior").fit(train.num, train.y)
        prior = np.clip(clf.class_prior_, 1e-12, 1.0)
        bias = np.log(prior[1:] / prior[:1]) if task == "binary" else np.log(prior)
    assert isinstance(net.head, ConstantHead)
    with torch.no_grad():
        net.head.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))
    return NetworkCandidate("dummy", net, {"task": task})


def fit_linear(
    task: Task,
    train: Arrays,
    class_weight: dict[int, float] | None,
    encoder_levels: list[int],
    embedding_threshold: int,
    seed: int,
) -> NetworkCandidate:
    """Logistic or ridge regression on the standardized features (one-hot for categories;
    high-cardinality categories are left out, as a linear model cannot embed them)."""
    inputs = TabularInput.fit(
        train.num, train.cat, encoder_levels, embedding_threshold=embedding_threshold, embed=False
    )
    with torch.no_grad():
        x = inputs(torch.from_numpy(train.num), torch.from_numpy(train.cat)).double().numpy()
    n_classes = int(train.y.max()) + 1 if task != "regression" else 1
    net = TabularNet(
        inputs, {"type": "linear", "in": x.shape[1], "out": n_outputs(task, n_classes)}, task
    )
    info: dict[str, Any] = {"task": task}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        if task == "regression":
            set_target_scaling(net, train.y)
            model: Any = Ridge(alpha=1.0).fit(x, _scaled_target(net, train.y))
        else:
            model = LogisticRegression(
                C=1.0, max_iter=2000, class_weight=class_weight, random_state=seed
            ).fit(x, train.y)
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        info["note"] = "the solver did not fully converge in 2000 iterations"
    coef = np.atleast_2d(model.coef_)
    intercept = np.atleast_1d(model.intercept_)
    assert isinstance(net.head, torch.nn.Linear)
    with torch.no_grad():
        net.head.weight.copy_(torch.as_tensor(coef, dtype=torch.float32))
        net.head.bias.copy_(torch.as_tensor(intercept, dtype=torch.float32))
    return NetworkCandidate("linear", net, info)


def fit_lightgbm(
    task: Task,
    train: Arrays,
    val: Arrays,
    class_weights: np.ndarray | None,
    rounds: int,
    seed: int,
) -> LightGBMCandidate:
    """Gradient boosting, the tabular baseline the guides say to beat (TW-A01, TW-A08).

    Early-stopped on the validation split (as the network is), deterministic, on one thread
    for a small table, else on torch's thread count capped by the free cores.
    """
    n_num = train.num.shape[1]
    categorical = list(range(n_num, n_num + train.cat.shape[1]))
    params: dict[str, Any] = {
        "learning_rate": 0.05,
        "num_leaves": 31,
        "min_data_in_leaf": min(20, max(2, len(train) // 50)),
        "feature_fraction": 0.9,
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        # One thread for a small table, else the free cores (trainwell.train.threads).
        "num_threads": table_threads(len(train) * (train.num.shape[1] + train.cat.shape[1])),
        "verbose": -1,
    }
    if task == "regression":
        params["objective"] = "regression"
    elif task == "binary":
        params["objective"] = "binary"
    else:
        params.update(objective="multiclass", num_class=int(train.y.max()) + 1)
        params["num_class"] = max(params["num_class"], int(val.y.max()) + 1)

    def weights(y: np.ndarray) -> np.ndarray | None:
        return None if class_weights is None else class_weights[y]

    dtrain = lgb.Dataset(
        lightgbm_matrix(train.num, train.cat),
        train.y,
        weight=weights(train.y),
        categorical_feature=categorical or "auto",
        free_raw_data=False,
    )
    dval = dtrain.create_valid(lightgbm_matrix(val.num, val.cat), val.y, weight=weights(val.y))
    booster = lgb.train(
        params,
        dtrain,
        num_boost_round=rounds,
        valid_sets=[dval],
        callbacks=[lgb.early_stopping(100, verbose=False)],
    )
    best = booster.best_iteration or booster.current_iteration()
    # Keep only the trees up to the best iteration, so the saved model is the one scored.
    booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
    return LightGBMCandidate("lightgbm", booster, task, {"task": task, "rounds": best})


def set_target_scaling(net: TabularNet, y_train: np.ndarray) -> None:
    """Regression targets are standardized with the training split's statistics (TW-D08)."""
    std = float(np.std(y_train))
    net.target_mean.fill_(float(np.mean(y_train)))
    net.target_std.fill_(std if std > 1e-12 else 1.0)
