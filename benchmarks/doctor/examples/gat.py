"""https://github.com/pytorch/examples/blob/main/gat/main.py
pytorch/examples gat: two GraphAttentionLayers (Velickovic et al.: 8 heads of 64 averaged,
LeakyReLU 0.2 scores, masked softmax over neighbours, dropout 0.6 on the features and the
attention), ELU between them, log_softmax, NLLLoss on the training nodes, Adam lr 0.005 with
weight_decay 5e-4, full-graph epochs, training and validation loss under eval()/no_grad
after every step; seed 13.

Changed to run offline: instead of the Cora download, a graph built from scikit-learn's bundled
digits as in ``gcn.py``: the first 500 images are the nodes (their 64 pixels the features,
each row scaled to sum 1 as load_cora does), each linked to its 5 nearest neighbours in pixel
space (``sklearn.neighbors.kneighbors_graph``, directed like Cora's citations), plus
self-loops, the digit the class; the random test/validation/training split keeps the
example's proportions on Cora (1200/400/1108 of 2708: 222/74/204 nodes). 500 nodes, not all
1,797, because the layer's attention is a dense (heads, nodes, nodes) tensor. 100 epochs
instead of 300. No accelerator branch.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from _digits import knn_graph
from torch import nn
from torch.optim import Adam

EPOCHS, LR, L2, DROPOUT, HIDDEN, HEADS, CONCAT, VAL_EVERY, SEED = (
    100,
    0.005,
    5e-4,
    0.6,
    64,
    8,
    False,
    20,
    13,
)
NODES = 500


class GraphAttentionLayer(nn.Module):
    def __init__(
        self,
        in_features: int,
        out_features: int,
        n_heads: int,
        concat: bool = False,
        dropout: float = 0.4,
        leaky_relu_slope: float = 0.2,
    ) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.concat = concat
        self.dropout = dropout
        if concat:
            self.out_features = out_features
            assert out_features % n_heads == 0
            self.n_hidden = out_features // n_heads
        else:
            self.n_hidden = out_features
        self.W = nn.Parameter(torch.empty(size=(in_features, self.n_hidden * n_heads)))
        self.a = nn.Parameter(torch.empty(size=(n_heads, 2 * self.n_hidden, 1)))
        self.leakyrelu = nn.LeakyReLU(leaky_relu_slope)
        self.softmax = nn.Softmax(dim=1)
        nn.init.xavier_normal_(self.W)
        nn.init.xavier_normal_(self.a)

    def _get_attention_scores(self, h_transformed: torch.Tensor) -> torch.Tensor:
        source_scores = torch.matmul(h_transformed, self.a[:, : self.n_hidden, :])
        target_scores = torch.matmul(h_transformed, self.a[:, self.n_hidden :, :])
        e = source_scores + target_scores.mT
        return self.leakyrelu(e)

    def forward(self, h: torch.Tensor, adj_mat: torch.Tensor) -> torch.Tensor:
        n_nodes = h.shape[0]
        h_transformed = torch.mm(h, self.W)
        h_transformed = F.dropout(h_transformed, self.dropout, training=self.training)
        h_transformed = h_transformed.view(n_nodes, self.n_heads, self.n_hidden).permute(1, 0, 2)
        e = self._get_attention_scores(h_transformed)
        connectivity_mask = -9e16 * torch.ones_like(e)
        e = torch.where(adj_mat > 0, e, connectivity_mask)
        attention = F.softmax(e, dim=-1)
        attention = F.dropout(attention, self.dropout, training=self.training)
        h_prime = torch.matmul(attention, h_transformed)
        if self.concat:
            return h_prime.permute(1, 0, 2).contiguous().view(n_nodes, self.out_features)
        return h_prime.mean(dim=0)


class GAT(nn.Module):
    def __init__(  # type: ignore[no-untyped-def]
        self,
        in_features,
        n_hidden,
        n_heads,
        num_classes,
        concat=False,
        dropout=0.4,
        leaky_relu_slope=0.2,
    ) -> None:
        super().__init__()
        self.gat1 = GraphAttentionLayer(
            in_features, n_hidden, n_heads, concat, dropout, leaky_relu_slope
        )
        self.gat2 = GraphAttentionLayer(n_hidden, num_classes, 1, False, dropout, leaky_relu_slope)

    def forward(self, input_tensor: torch.Tensor, adj_mat: torch.Tensor) -> torch.Tensor:
        x = self.gat1(input_tensor, adj_mat)
        x = F.elu(x)
        x = self.gat2(x, adj_mat)
        return F.log_softmax(x, dim=1)


def load_digits_graph() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """load_cora's features, labels and adjacency (with self-loops), for the digits graph."""
    features, labels, edges = knn_graph(NODES)
    V, E = len(labels), edges.shape[1]
    adj_mat = torch.sparse_coo_tensor(edges, torch.ones(E), (V, V), dtype=torch.int64)
    adj_mat = torch.eye(V) + adj_mat  # self-loops
    return features, labels, adj_mat


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


def test(model, criterion, input, target, mask):  # type: ignore[no-untyped-def]
    model.eval()
    with torch.no_grad():
        output = model(*input)
        output, target = output[mask], target[mask]
        loss = criterion(output, target)
        acc = (output.argmax(dim=1) == target).float().sum() / len(target)
    return loss.item(), acc.item()


def main() -> None:
    torch.manual_seed(SEED)
    features, labels, adj_mat = load_digits_graph()
    idx = torch.randperm(len(labels))
    idx_test, idx_val, idx_train = idx[:222], idx[222:296], idx[296:]
    gat_net = GAT(
        in_features=features.shape[1],
        n_hidden=HIDDEN,
        n_heads=HEADS,
        num_classes=int(labels.max().item()) + 1,
        concat=CONCAT,
        dropout=DROPOUT,
        leaky_relu_slope=0.2,
    )
    optimizer = Adam(gat_net.parameters(), lr=LR, weight_decay=L2)
    criterion = nn.NLLLoss()
    for epoch in range(EPOCHS):
        train_iter(
            epoch + 1,
            gat_net,
            optimizer,
            criterion,
            (features, adj_mat),
            labels,
            idx_train,
            idx_val,
            VAL_EVERY,
        )
    loss_test, acc_test = test(gat_net, criterion, (features, adj_mat), labels, idx_test)
    print(f"Test set results: loss {loss_test:.4f} accuracy {acc_test:.4f}")


if __name__ == "__main__":
    main()
