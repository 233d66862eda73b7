"""Offline stand-in for MNIST: scikit-learn's bundled 8x8 digits, upscaled to 28x28.

1,797 images ship inside scikit-learn (no download). Pixels are scaled to [0, 1] as
``torchvision.transforms.ToTensor`` does, then bilinearly resized to MNIST's 28x28 (or the
size an example asks for).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.neighbors import kneighbors_graph
from torch.utils.data import DataLoader, TensorDataset


def images(size: int = 28) -> tuple[torch.Tensor, torch.Tensor]:
    """All 1,797 digits as (N, 1, size, size) images in [0, 1] and their (N,) labels."""
    data = load_digits()
    x = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)
    return x, torch.tensor(data.target, dtype=torch.long)


def digits(normalize: bool) -> tuple[TensorDataset, TensorDataset]:
    """Train (first 1,500) and test (last 297) sets of (1, 28, 28) images in [0, 1] and labels.

    Args:
        normalize: apply MNIST's ``Normalize((0.1307,), (0.3081,))`` as the examples do.
    """
    x, y = images(28)
    if normalize:
        x = (x - 0.1307) / 0.3081
    return TensorDataset(x[:1500], y[:1500]), TensorDataset(x[1500:], y[1500:])


def loaders(
    batch_size: int, test_batch_size: int, normalize: bool = True
) -> tuple[DataLoader, DataLoader]:
    train, test = digits(normalize)
    return (
        DataLoader(train, batch_size=batch_size, shuffle=True),
        DataLoader(test, batch_size=test_batch_size),
    )


def knn_graph(nodes: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Offline stand-in for Cora (gcn, gat): the first ``nodes`` digits (all 1,797 by default)
    as nodes, each linked to its 5 nearest neighbours in pixel space (directed, like Cora's
    citations).

    Returns:
        features: (nodes, 64) pixels, each row scaled to sum 1 as ``load_cora`` does.
        labels: (nodes,) the digit, int64.
        edges: (2, edges) int64 node indices (source row, target column), no self-loops.
    """
    data = load_digits()
    pixels, target = data.data[:nodes], data.target[:nodes]
    features = torch.FloatTensor(pixels)
    scale_vector = 1 / torch.sum(features, dim=1)
    scale_vector[scale_vector == float("inf")] = 0
    features = torch.diag(scale_vector).to_sparse() @ features
    knn = kneighbors_graph(pixels, n_neighbors=5).tocoo()
    edges = torch.from_numpy(np.stack([knn.row, knn.col]).astype(np.int64))
    return features, torch.LongTensor(target), edges
