"""Offline stand-in for gymnasium's ``CartPole-v1`` (gymnasium is not installed here).

The dynamics, reset, termination, reward and 500-step time limit of gymnasium's
``gymnasium/envs/classic_control/cartpole.py`` (Barto, Sutton & Anderson 1983, Euler
integration), with its API: ``reset(seed=None) -> (state, info)`` and
``step(action) -> (state, reward, terminated, truncated, info)``; ``spec.reward_threshold``
is 475 as registered for v1. No rendering.
"""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import numpy as np

GRAVITY, MASSCART, MASSPOLE, LENGTH, FORCE_MAG, TAU = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
TOTAL_MASS, POLEMASS_LENGTH = MASSPOLE + MASSCART, MASSPOLE * LENGTH
THETA_THRESHOLD, X_THRESHOLD, MAX_STEPS = 12 * 2 * math.pi / 360, 2.4, 500


class CartPole:
    """``gym.make("CartPole-v1")`` without the wrappers' checks."""

    spec = SimpleNamespace(reward_threshold=475.0)

    def __init__(self) -> None:
        self.np_random = np.random.default_rng()
        self.state = np.zeros(4)
        self.steps = 0

    def reset(self, seed: int | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        if seed is not None:
            self.np_random = np.random.default_rng(seed)
        self.state = self.np_random.uniform(low=-0.05, high=0.05, size=(4,))
        self.steps = 0
        return np.array(self.state, dtype=np.float32), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        x, x_dot, theta, theta_dot = self.state
        force = FORCE_MAG if action == 1 else -FORCE_MAG
        costheta, sintheta = math.cos(theta), math.sin(theta)
        temp = (force + POLEMASS_LENGTH * theta_dot**2 * sintheta) / TOTAL_MASS
        thetaacc = (GRAVITY * sintheta - costheta * temp) / (
            LENGTH * (4.0 / 3.0 - MASSPOLE * costheta**2 / TOTAL_MASS)
        )
        xacc = temp - POLEMASS_LENGTH * thetaacc * costheta / TOTAL_MASS
        x, x_dot = x + TAU * x_dot, x_dot + TAU * xacc
        theta, theta_dot = theta + TAU * theta_dot, theta_dot + TAU * thetaacc
        self.state = np.array([x, x_dot, theta, theta_dot])
        self.steps += 1
        terminated = bool(
            x < -X_THRESHOLD
            or x > X_THRESHOLD
            or theta < -THETA_THRESHOLD
            or theta > THETA_THRESHOLD
        )
        truncated = self.steps >= MAX_STEPS
        return np.array(self.state, dtype=np.float32), 1.0, terminated, truncated, {}
