"""https://github.com/pytorch/examples/blob/main/reinforcement_learning/reinforce.py
pytorch/examples reinforcement_learning/reinforce: REINFORCE on CartPole-v1, a Policy of
Linear(4, 128), dropout 0.6, ReLU, Linear(128, 2), softmax; actions sampled from
``Categorical``; one Adam (lr 1e-2) step per episode on the sum of ``-log_prob * R`` over
the episode, R the discounted (gamma 0.99) returns standardized per episode; seed 543.

Changed to run offline: gymnasium is not installed here, so ``_cartpole.CartPole`` is
CartPole-v1 written out (the same dynamics, reset, termination, reward and 500-step limit);
at most 150 episodes (upstream runs until the running reward passes 475, a few hundred
episodes); no rendering.
"""

from __future__ import annotations

from collections import deque
from itertools import count

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from _cartpole import CartPole
from torch.distributions import Categorical

GAMMA, SEED, LOG_INTERVAL, MAX_EPISODES = 0.99, 543, 10, 150

env = CartPole()
env.reset(seed=SEED)
torch.manual_seed(SEED)


class Policy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.affine1 = nn.Linear(4, 128)
        self.dropout = nn.Dropout(p=0.6)
        self.affine2 = nn.Linear(128, 2)
        self.saved_log_probs: list[torch.Tensor] = []
        self.rewards: list[float] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.affine1(x)
        x = self.dropout(x)
        x = F.relu(x)
        action_scores = self.affine2(x)
        return F.softmax(action_scores, dim=1)


policy = Policy()
optimizer = optim.Adam(policy.parameters(), lr=1e-2)
eps = np.finfo(np.float32).eps.item()


def select_action(state: np.ndarray) -> int:
    probs = policy(torch.from_numpy(state).float().unsqueeze(0))
    m = Categorical(probs)
    action = m.sample()
    policy.saved_log_probs.append(m.log_prob(action))
    return int(action.item())


def finish_episode() -> None:
    R = 0.0
    policy_loss = []
    returns: deque[float] = deque()
    for r in policy.rewards[::-1]:
        R = r + GAMMA * R
        returns.appendleft(R)
    returns_t = torch.tensor(returns)
    returns_t = (returns_t - returns_t.mean()) / (returns_t.std() + eps)
    for log_prob, R_t in zip(policy.saved_log_probs, returns_t, strict=True):
        policy_loss.append(-log_prob * R_t)
    optimizer.zero_grad()
    loss = torch.cat(policy_loss).sum()
    loss.backward()
    optimizer.step()
    del policy.rewards[:]
    del policy.saved_log_probs[:]


def main() -> None:
    running_reward = 10.0
    for i_episode in count(1):
        state, _ = env.reset()
        ep_reward = 0.0
        for t in range(1, 10000):  # noqa: B007 (t is printed once solved, as upstream)
            action = select_action(state)
            state, reward, terminated, truncated, _ = env.step(action)
            policy.rewards.append(reward)
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
