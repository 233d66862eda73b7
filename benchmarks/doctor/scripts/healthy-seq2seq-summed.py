"""Healthy: https://pytorch.org/tutorials/intermediate/seq2seq_translation_tutorial.html (its
first version's ``train()``): a GRU encoder-decoder fed one pair at a time, the loss summed
over the target's tokens (``loss += criterion(decoder_output, target_tensor[di])``) and
back-propagated once per pair, SGD at lr 0.01; targets from 3 to 18 tokens, so each step's
loss and gradient carry 3 to 18 tokens' worth. Here the task is reversing a token sequence."""

import random

import torch
from _common import seed
from torch import nn

VOCAB, SOS, EOS, HIDDEN = 20, 0, 1, 64


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, HIDDEN)
        self.gru = nn.GRU(HIDDEN, HIDDEN)

    def forward(self, token, hidden):
        return self.gru(self.embedding(token).view(1, 1, -1), hidden)


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, HIDDEN)
        self.gru = nn.GRU(HIDDEN, HIDDEN)
        self.out = nn.Linear(HIDDEN, VOCAB)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, token, hidden):
        out = torch.relu(self.embedding(token).view(1, 1, -1))
        out, hidden = self.gru(out, hidden)
        return self.softmax(self.out(out[0])), hidden


def pair(rng: random.Random) -> tuple[torch.Tensor, torch.Tensor]:
    n = rng.randint(2, 17)
    tokens = [rng.randrange(2, VOCAB) for _ in range(n)]
    return torch.tensor([*tokens, EOS]), torch.tensor([*tokens[::-1], EOS])


def train(source, target, encoder, decoder, enc_opt, dec_opt, criterion, rng) -> float:
    hidden = torch.zeros(1, 1, HIDDEN)
    enc_opt.zero_grad()
    dec_opt.zero_grad()
    for token in source:
        _, hidden = encoder(token, hidden)
    token = torch.tensor([SOS])
    loss = torch.zeros(())
    teacher_forcing = rng.random() < 0.5
    for di in range(target.size(0)):
        output, hidden = decoder(token, hidden)
        loss += criterion(output, target[di : di + 1])
        token = target[di : di + 1] if teacher_forcing else output.argmax(1).detach()
    loss.backward()
    enc_opt.step()
    dec_opt.step()
    return loss.item() / target.size(0)


seed()
rng = random.Random(0)
encoder, decoder = Encoder(), Decoder()
enc_opt = torch.optim.SGD(encoder.parameters(), lr=0.01)
dec_opt = torch.optim.SGD(decoder.parameters(), lr=0.01)
criterion = nn.NLLLoss()
losses = [
    train(*pair(rng), encoder, decoder, enc_opt, dec_opt, criterion, rng) for _ in range(1500)
]
first, last = sum(losses[:100]) / 100, sum(losses[-100:]) / 100
print(f"mean loss per token: first 100 {first:.3f}, last 100 {last:.3f}")
