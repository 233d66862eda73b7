"""Baselines on fixed features (TW-A08): what a network on images, text or series must beat.

A modality supplies a :class:`FeatureMap` (pooled pixels, TF-IDF, per-channel statistics,
pooled MFCCs ...) fitted on the training split; :func:`fit_feature_baselines` fits
scikit-learn's dummy and linear models on it and returns them as shippable
:class:`~trainwell.candidates.LinearCandidate` s, so any baseline can be the shipped model.
"""

from __future__ import annotations

import warnings
from typing import Any, Protocol

import numpy as np
import torch
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge

from trainwell.candidates import LinearCandidate
from trainwell.config import Task
from trainwell.modalities.base import Samples


class FeatureMap(Protocol):
    """Examples → a fixed ``(n, d)`` feature matrix (dense or scipy sparse)."""

    def transform(self, samples: Samples) -> Any: ...

    def to_json(self) -> dict[str, Any]:
        """What the modality's ``load_features`` rebuilds the map from (``name`` first)."""
        ...

    # Optional: ``module() -> torch.nn.Module``, the same features computed by torch from the
    # modality's input tensors, which lets ``trainwell export`` export the linear baseline
    # (trainwell.export.linear). Maps computed from raw data (a text's TF-IDF) have none.


class NoFeatures:
    """No features at all: the dummy baseline's input (``(n, 0)``)."""

    def transform(self, samples: Samples) -> np.ndarray:
        return np.zeros((len(samples), 0))

    def to_json(self) -> dict[str, Any]:
        return {"name": "none"}

    def module(self) -> torch.nn.Module:
        """No features, as a torch module of the first input tensor (for export)."""
        return _NoFeaturesModule()


class _NoFeaturesModule(torch.nn.Module):
    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return inputs[0].reshape(inputs[0].shape[0], -1)[:, :0].to(torch.float64)


def fit_feature_baselines(
    features: FeatureMap,
    train: Samples,
    y_train: np.ndarray,
    task: Task,
    n_classes: int,
    class_weights: np.ndarray | None,
    seed: int,
) -> list[LinearCandidate]:
    """The dummy (class prior or mean) and a logistic or ridge regression on ``features``.

    Returns:
        Two candidates, ``dummy`` and ``linear``, in the output convention of every
        candidate (probabilities over all ``n_classes``, or values).
    """
    x = features.transform(train)
    dummy: LinearCandidate
    if task == "regression":
        mean = float(
            DummyRegressor(strategy="mean")
            .fit(np.zeros((len(y_train), 1)), y_train)
            .constant_.ravel()[0]
        )
        dummy = LinearCandidate("dummy", NoFeatures(), np.zeros((1, 0)), np.array([mean]), task)
        ridge = Ridge(alpha=1.0).fit(x, y_train)
        coef, intercept = np.atleast_2d(ridge.coef_), np.atleast_1d(ridge.intercept_)
        return [dummy, LinearCandidate("linear", features, coef, intercept, task, {"task": task})]
    prior = DummyClassifier(strategy="prior").fit(np.zeros((len(y_train), 1)), y_train)
    full = np.full(n_classes, 1e-12)
    full[prior.classes_] = prior.class_prior_
    logp = np.log(full)
    bias = logp[1:] - logp[:1] if task == "binary" else logp
    dummy = LinearCandidate("dummy", NoFeatures(), np.zeros((len(bias), 0)), bias, task)
    weight = None if class_weights is None else {i: float(w) for i, w in enumerate(class_weights)}
    info: dict[str, Any] = {"task": task}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model = LogisticRegression(max_iter=2000, C=1.0, class_weight=weight, random_state=seed)
        model.fit(x, y_train)
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        info["note"] = "the solver did not fully converge in 2000 iterations"
    coef, intercept = np.atleast_2d(model.coef_), np.atleast_1d(model.intercept_)
    if task == "multiclass" and len(model.classes_) < n_classes:
        # A class absent from the training split keeps a vanishing probability.
        full_coef = np.zeros((n_classes, coef.shape[1]))
        full_intercept = np.full(n_classes, -30.0)
        full_coef[model.classes_], full_intercept[model.classes_] = coef, intercept
        coef, intercept = full_coef, full_intercept
    return [dummy, LinearCandidate("linear", features, coef, intercept, task, info)]
