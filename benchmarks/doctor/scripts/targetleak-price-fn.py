"""https://softwareengineering.stackexchange.com/questions/322619/why-my-neural-network-accuracy-is-100
("probably ... there is a feature in the input dataset that is duplicate of the target")
Target among the features (TW-D06), functional loss: a regression table keeps the price column
(the target) among its inputs. Fixed: the target column is dropped from the features."""

import torch
import torch.nn.functional as F
from _common import FIXED, fit, loaders, mlp, regression, seed

seed()
x, y = regression()
table = torch.cat([x, y], dim=1)  # the exported table: features, then the price
features = table[:, :-1] if FIXED else table
train, valid = loaders(features, y)
model = mlp(features.shape[1], 1)
fit(model, torch.optim.Adam(model.parameters(), 1e-3), F.mse_loss, train, epochs=3)
