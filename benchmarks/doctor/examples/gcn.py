"""https://github.com/pytorch/examples/blob/main/gcn/main.py
pytorch/examples gcn: two GraphConv layers (Kipf & Welling), ReLU, dropout 0.5, log_softmax,
NLLLoss on the training nodes, Adam lr 0.01 with weight_decay 5e-4, 200 full-graph epochs,
training and validation loss under eval()/no_grad after every step.

Changed to run offline: instead of the Cora download, a graph built from scikit-learn's bundled
digits: the 1,797 images are the nodes (their 64 pixels the features, each row scaled to sum
1 as load_cora does), each linked to its 5 nearest neighbours in pixel space
(``sklearn.neighbors.kneighbors_graph``, directed like Cora's citations), the digit the class;
the random test/validation/training split keeps Cora's proportions (1000/500/1208 of 2708:
664/332/801 nodes). No accelerator branch.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from _digits import knn_graph
from torch import nn
from torch.optim import Adam

epochs, lr, l2, dropout_p, hidden_dim, val_every, include_bias, seed = (
    200,
    0.01,
    5e-4,
    0.5,
    16,
    20,
    False,
    42,
)


class GraphConv(nn.Module):
    """Graph convolution H' = A_hat H W (+ b), A_hat the renormalized adjacency matrix."""

    def __init__(self, input_dim: int, output_dim: int, use_bias: bool = False) -> None:
        super().__init__()
        self.kernel = nn.Parameter(torch.Tensor(input_dim, output_dim))
        nn.init.xavier_normal_(self.kernel)
        self.bias = None
        if use_bias:
            self.bias = nn.Parameter(torch.Tensor(output_dim))
            nn.init.zeros_(self.bias)

    def forward(self, input_tensor: torch.Tensor, adj_mat: torch.Tensor) -> torch.Tensor:
        support = torch.mm(input_tensor, self.kernel)
        output = torch.spmm(adj_mat, support)
        if self.bias is not None:
            output = output + self.bias
        return output


class GCN(nn.Module):
    def __init__(
        self,
        input_dim: int,
        hidden_dim: int,
        output_dim: int,
        use_bias: bool = True,
        dropout_p: float = 0.1,
    ) -> None:
        super().__init__()
        self.gc1 = GraphConv(input_dim, hidden_dim, use_bias=use_bias)
        self.gc2 = GraphConv(hidden_dim, output_dim, use_bias=use_bias)
        self.dropout = nn.Dropout(dropout_p)

    def forward(self, input_tensor: torch.Tensor, adj_mat: torch.Tensor) -> torch.Tensor:
        x = self.gc1(input_tensor, adj_mat)
        x = F.relu(x)
        x = self.dropout(x)
        x = self.gc2(x, adj_mat)
        return F.log_softmax(x, dim=1)


def load_digits_graph() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """load_cora's features, labels and renormalized adjacency, for the digits graph."""
    features, labels, edges = knn_graph()
    V, E = len(labels), edges.shape[1]
    adj_mat = torch.sparse_coo_tensor(edges, torch.ones(E), (V, V))
    adj_mat = torch.eye(V) + adj_mat  # self-loops
    degree_mat = torch.sqrt(1 / torch.sum(adj_mat, dim=1))
    degree_mat[degree_mat == float("inf")] = 0
    degree_mat = torch.diag(degree_mat).to_sparse()
    adj_mat = degree_mat @ adj_mat @ degree_mat  # the renormalization trick
    return features.to_sparse(), labels, adj_mat.to_sparse()


def test(model, criterion, input, target, mask):  # type: ignore[no-untyped-def]
    model.eval()
    with torch.no_grad():
        output = model(*input)
        output, target = output[mask], target[mask]
        loss = criterion(output, target)
        acc = (output.argmax(dim=1) == target).float().sum() / len(target)
    return loss.item(), acc.item()


def train_iter(  # type: ignore[no-untyped-def]
    epoch, model, optimizer, criterion, input, target, mask_train, mask_val, print_every=10
):
    start_t = time.time()
    model.train()
    optimizer.zero_grad()
    output = model(*input)
    loss = criterion(output[mask_train], target[mask_train])
    loss.backward()
    optimizer.step()
    loss_train, acc_train = test(model, criterion, input, target, mask_train)
    loss_val, acc_val = test(model, criterion, input, target, mask_val)
    if epoch % print_every == 0:
        print(
            f"Epoch: {epoch:04d} ({(time.time() - start_t):.4f}s) loss_train: {loss_train:.4f} "
            f"acc_train: {acc_train:.4f} loss_val: {loss_val:.4f} acc_val: {acc_val:.4f}"
        )


def main() -> None:
    torch.manual_seed(seed)
    features, labels, adj_mat = load_digits_graph()
    idx = torch.randperm(len(labels))
    idx_test, idx_val, idx_train = idx[:664], idx[664:996], idx[996:]
    gcn = GCN(features.shape[1], hidden_dim, int(labels.max().item()) + 1, include_bias, dropout_p)
    optimizer = Adam(gcn.parameters(), lr=lr, weight_decay=l2)
    criterion = nn.NLLLoss()
    for epoch in range(epochs):
        train_iter(
            epoch + 1,
            gcn,
            optimizer,
            criterion,
            (features, adj_mat),
            labels,
            idx_train,
            idx_val,
            val_every,
        )
    loss_test, acc_test = test(gcn, criterion, (features, adj_mat), labels, idx_test)
    print(f"Test set results: loss {loss_test:.4f} accuracy {acc_test:.4f}")


if __name__ == "__main__":
    main()
