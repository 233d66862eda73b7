"""https://zeupark.github.io/2025/05/26/overfitting-debug-log.html (a derived column closely
related to the label)
Target among the features (TW-D06), functional regression loss: a column computed from the
target (2y + 1) is one of the inputs. Fixed: the column is dropped."""

import torch
import torch.nn.functional as F
from _common import FIXED, fit, loaders, mlp, regression, seed

seed()
x, y = regression()
if not FIXED:
    x = torch.cat([x, 2 * y + 1], dim=1)
train, valid = loaders(x, y)
model = mlp(x.shape[1], 1)
fit(model, torch.optim.Adam(model.parameters(), 1e-3), F.mse_loss, train, valid, epochs=3)
