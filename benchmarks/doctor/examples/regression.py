"""https://github.com/pytorch/examples/blob/main/regression/main.py
pytorch/examples regression: fit a degree-4 polynomial with one Linear, F.smooth_l1_loss, manual
SGD.

Changed to run offline: already offline (synthetic polynomial); unchanged but for a seed, a
2,000-batch cap on its loop and the manual SGD update under torch.no_grad().
"""

from __future__ import annotations

from itertools import count

import torch
import torch.nn.functional as F

POLY_DEGREE = 4
torch.manual_seed(0)
W_target = torch.randn(POLY_DEGREE, 1) * 5
b_target = torch.randn(1) * 5


def make_features(x: torch.Tensor) -> torch.Tensor:
    """Builds features i.e. a matrix with columns [x, x^2, x^3, x^4]."""
    x = x.unsqueeze(1)
    return torch.cat([x**i for i in range(1, POLY_DEGREE + 1)], 1)


def f(x: torch.Tensor) -> torch.Tensor:
    return x.mm(W_target) + b_target.item()


def get_batch(batch_size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    random = torch.randn(batch_size)
    x = make_features(random)
    return x, f(x)


fc = torch.nn.Linear(W_target.size(0), 1)
for batch_idx in count(1):
    batch_x, batch_y = get_batch()
    fc.zero_grad()
    output = F.smooth_l1_loss(fc(batch_x), batch_y)
    loss = output.item()
    output.backward()
    with torch.no_grad():
        for param in fc.parameters():
            param.add_(-0.1 * param.grad)  # type: ignore[operator]
    if loss < 1e-3 or batch_idx >= 2000:
        break
print(f"Loss: {loss:.6f} after {batch_idx} batches")
