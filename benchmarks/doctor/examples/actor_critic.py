"""https://github.com/pytorch/examples/blob/main/reinforcement_learning/actor_critic.py
pytorch/examples reinforcement_learning/actor_critic: one-step-return actor-critic on
CartPole-v1, a Policy of Linear(4, 128), ReLU and two heads (action softmax, state value);
actions sampled from ``Categorical``; one Adam (lr 3e-2) step per episode on the summed
``-log_prob * advantage`` plus the summed ``F.smooth_l1_loss(value, R)`` per time step, R the
discounted (gamma 0.99) returns standardized per episode; seed 543.

Changed to run offline: gymnasium is not installed here, so ``_cartpole.CartPole`` is
CartPole-v1 written out (the same dynamics, reset, termination, reward and 500-step limit);
at most 250 episodes (upstream runs until the running reward passes 475: episode ~620
here); no rendering.
"""

from __future__ import annotations

from collections import namedtuple
from itertools import count

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from _cartpole import CartPole
from torch.distributions import Categorical

GAMMA, SEED, LOG_INTERVAL, MAX_EPISODES = 0.99, 543, 10, 250

env = CartPole()
env.reset(seed=SEED)
torch.manual_seed(SEED)

SavedAction = namedtuple("SavedAction", ["log_prob", "value"])


class Policy(nn.Module):
    """Actor and critic in one model."""

    def __init__(self) -> None:
        super().__init__()
        self.affine1 = nn.Linear(4, 128)
        self.action_head = nn.Linear(128, 2)
        self.value_head = nn.Linear(128, 1)
        self.saved_actions: list[SavedAction] = []
        self.rewards: list[float] = []

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.relu(self.affine1(x))
        action_prob = F.softmax(self.action_head(x), dim=-1)
        state_values = self.value_head(x)
        return action_prob, state_values


model = Policy()
optimizer = optim.Adam(model.parameters(), lr=3e-2)
eps = np.finfo(np.float32).eps.item()


def select_action(state: np.ndarray) -> int:
    probs, state_value = model(torch.from_numpy(state).float())
    m = Categorical(probs)
    action = m.sample()
    model.saved_actions.append(SavedAction(m.log_prob(action), state_value))
    return int(action.item())


def finish_episode() -> None:
    R = 0.0
    saved_actions = model.saved_actions
    policy_losses = []
    value_losses = []
    returns: list[float] = []
    for r in model.rewards[::-1]:
        R = r + GAMMA * R
        returns.insert(0, R)
    returns_t = torch.tensor(returns)
    returns_t = (returns_t - returns_t.mean()) / (returns_t.std() + eps)
    for (log_prob, value), R_t in zip(saved_actions, returns_t, strict=True):
        advantage = R_t - value.item()
        policy_losses.append(-log_prob * advantage)
        value_losses.append(F.smooth_l1_loss(value, torch.tensor([R_t])))
    optimizer.zero_grad()
    loss = torch.stack(policy_losses).sum() + torch.stack(value_losses).sum()
    loss.backward()
    optimizer.step()
    del model.rewards[:]
    del model.saved_actions[:]


def main() -> None:
    running_reward = 10.0
    for i_episode in count(1):
        state, _ = env.reset()
        ep_reward = 0.0
        for t in range(1, 10000):  # noqa: B007 (t is printed once solved, as upstream)
            action = select_action(state)
            state, reward, terminated, truncated, _ = env.step(action)
            model.rewards.append(reward)
            ep_reward += reward
            if terminated or truncated:
                break
        running_reward = 0.05 * ep_reward + (1 - 0.05) * running_reward
        finish_episode()
        if i_episode % LOG_INTERVAL == 0:
            print(
                f"Episode {i_episode}\tLast reward: {ep_reward:.2f}\tAverage: {running_reward:.2f}"
            )
        if running_reward > env.spec.reward_threshold:
            print(f"Solved! Running reward is now {running_reward} and the last episode ran {t}")
            break
        if i_episode == MAX_EPISODES:
            break


if __name__ == "__main__":
    main()
