"""https://github.com/pytorch/examples/blob/main/language_translation/main.py
pytorch/examples language_translation (with src/model.py and src/data.py): ``Translator``, an
``nn.Transformer`` seq2seq (5 encoder and 5 decoder layers, d_model 512, 8 heads, feed-forward
512, dropout 0.1, sinusoidal positions, Xavier-uniform init of every matrix), sequence-first
batches padded with ``<pad>``, a causal target mask and padding masks (``create_mask``),
``CrossEntropyLoss(ignore_index=<pad>)``, Adam lr 1e-4 with betas (0.9, 0.98) and eps 1e-9,
batch 128, the loaders unshuffled (Multi30k is an iterable datapipe), validation in eval()
without ``no_grad`` after each epoch, the epoch's loss averaged over ``len(list(loader))``.

Changed to run offline: Multi30k (de -> en) and spacy's tokenizers need downloads, so the corpus
is ``_numbers.pairs``: sentences counting things, Spanish -> English, made by rules
(``tengo doscientas una casas`` / ``i have two hundred one houses``; the Spanish number agrees
with the noun's gender), 2,048 training and 256 validation pairs drawn in random order, fed as
an ``IterableDataset`` like the datapipe; tokens split on spaces; the vocabularies built as
torchtext's ``build_vocab_from_iterator`` does (specials first, then by frequency, ties
alphabetical, unknown words to ``<unk>``). 2 epochs instead of 30; no tqdm, logging to files,
checkpoints or inference loop.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator

import torch
from _numbers import pairs
from torch import nn
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader, IterableDataset

SPECIALS = {"<unk>": 0, "<pad>": 1, "<bos>": 2, "<eos>": 3}
EPOCHS, LR, BATCH = 2, 1e-4, 128
ATTN_HEADS, ENC_LAYERS, DEC_LAYERS, EMBED, FF, DROPOUT = 8, 5, 5, 512, 512, 0.1


class PositionalEncoding(nn.Module):
    def __init__(self, emb_size: int, dropout: float, maxlen: int = 5000) -> None:
        super().__init__()
        den = torch.exp(-torch.arange(0, emb_size, 2) * math.log(10000) / emb_size)
        pos = torch.arange(0, maxlen).reshape(maxlen, 1)
        pos_embedding = torch.zeros((maxlen, emb_size))
        pos_embedding[:, 0::2] = torch.sin(pos * den)
        pos_embedding[:, 1::2] = torch.cos(pos * den)
        pos_embedding = pos_embedding.unsqueeze(-2)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("pos_embedding", pos_embedding)

    def forward(self, token_embedding: torch.Tensor) -> torch.Tensor:
        return self.dropout(token_embedding + self.pos_embedding[: token_embedding.size(0), :])


class Translator(nn.Module):
    def __init__(
        self,
        num_encoder_layers: int,
        num_decoder_layers: int,
        embed_size: int,
        num_heads: int,
        src_vocab_size: int,
        tgt_vocab_size: int,
        dim_feedforward: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.src_embedding = nn.Embedding(src_vocab_size, embed_size)
        self.tgt_embedding = nn.Embedding(tgt_vocab_size, embed_size)
        self.pos_enc = PositionalEncoding(embed_size, dropout)
        self.transformer = nn.Transformer(
            d_model=embed_size,
            nhead=num_heads,
            num_encoder_layers=num_encoder_layers,
            num_decoder_layers=num_decoder_layers,
            dim_feedforward=dim_feedforward,
            dropout=dropout,
        )
        self.ff = nn.Linear(embed_size, tgt_vocab_size)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def forward(  # type: ignore[no-untyped-def]
        self, src, trg, src_mask, tgt_mask, src_padding_mask, tgt_padding_mask, memory_mask
    ) -> torch.Tensor:
        src_emb = self.pos_enc(self.src_embedding(src))
        tgt_emb = self.pos_enc(self.tgt_embedding(trg))
        outs = self.transformer(
            src_emb,
            tgt_emb,
            src_mask,
            tgt_mask,
            None,
            src_padding_mask,
            tgt_padding_mask,
            memory_mask,
        )
        return self.ff(outs)


class Corpus(IterableDataset):
    """(Spanish, English) sentence pairs, iterated in their (random) order."""

    def __init__(self, data: list[tuple[str, str]]) -> None:
        self.data = data

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.data)


def build_vocab(sentences: list[str]) -> dict[str, int]:
    """torchtext's ``build_vocab_from_iterator(min_freq=1, specials, special_first=True)``."""
    counts = Counter(w for s in sentences for w in s.split())
    words = [w for w, _ in sorted(counts.items(), key=lambda x: (-x[1], x[0]))]
    return {w: i for i, w in enumerate(list(SPECIALS) + words)}


def get_data() -> tuple[DataLoader, DataLoader, dict[str, int], dict[str, int]]:
    train, valid = pairs(2048, seed=0), pairs(256, seed=1)
    src_vocab = build_vocab([s for s, _ in train])
    tgt_vocab = build_vocab([t for _, t in train])

    def transform(vocab: dict[str, int], text: str) -> torch.Tensor:
        ids = [vocab.get(w, SPECIALS["<unk>"]) for w in text.split()]
        return torch.tensor([SPECIALS["<bos>"], *ids, SPECIALS["<eos>"]])

    def collate(batch: list[tuple[str, str]]) -> tuple[torch.Tensor, torch.Tensor]:
        src = [transform(src_vocab, s.rstrip("\n")) for s, _ in batch]
        tgt = [transform(tgt_vocab, t.rstrip("\n")) for _, t in batch]
        pad = SPECIALS["<pad>"]
        return pad_sequence(src, padding_value=pad), pad_sequence(tgt, padding_value=pad)

    train_dl = DataLoader(Corpus(train), batch_size=BATCH, collate_fn=collate)
    valid_dl = DataLoader(Corpus(valid), batch_size=BATCH, collate_fn=collate)
    return train_dl, valid_dl, src_vocab, tgt_vocab


def generate_square_subsequent_mask(size: int) -> torch.Tensor:
    mask = (torch.triu(torch.ones((size, size))) == 1).transpose(0, 1)
    return mask.float().masked_fill(mask == 0, float("-inf")).masked_fill(mask == 1, 0.0)


def create_mask(src, tgt, pad_idx):  # type: ignore[no-untyped-def]
    tgt_mask = generate_square_subsequent_mask(tgt.shape[0])
    src_mask = torch.zeros((src.shape[0], src.shape[0])).type(torch.bool)
    return src_mask, tgt_mask, (src == pad_idx).transpose(0, 1), (tgt == pad_idx).transpose(0, 1)


def train(model, train_dl, loss_fn, optim) -> float:  # type: ignore[no-untyped-def]
    losses = 0.0
    model.train()
    for src, tgt in train_dl:
        tgt_input = tgt[:-1, :]
        src_mask, tgt_mask, src_pad, tgt_pad = create_mask(src, tgt_input, SPECIALS["<pad>"])
        logits = model(src, tgt_input, src_mask, tgt_mask, src_pad, tgt_pad, src_pad)
        optim.zero_grad()
        tgt_out = tgt[1:, :]
        loss = loss_fn(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1))
        loss.backward()
        optim.step()
        losses += loss.item()
    return losses / len(list(train_dl))


def validate(model, valid_dl, loss_fn) -> float:  # type: ignore[no-untyped-def]
    losses = 0.0
    model.eval()  # as upstream: eval() but no torch.no_grad()
    for src, tgt in valid_dl:
        tgt_input = tgt[:-1, :]
        src_mask, tgt_mask, src_pad, tgt_pad = create_mask(src, tgt_input, SPECIALS["<pad>"])
        logits = model(src, tgt_input, src_mask, tgt_mask, src_pad, tgt_pad, src_pad)
        tgt_out = tgt[1:, :]
        loss = loss_fn(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1))
        losses += loss.item()
    return losses / len(list(valid_dl))


def main() -> None:
    torch.manual_seed(0)
    train_dl, valid_dl, src_vocab, tgt_vocab = get_data()
    print(f"es vocab size: {len(src_vocab)}, en vocab size: {len(tgt_vocab)}")
    model = Translator(
        num_encoder_layers=ENC_LAYERS,
        num_decoder_layers=DEC_LAYERS,
        embed_size=EMBED,
        num_heads=ATTN_HEADS,
        src_vocab_size=len(src_vocab),
        tgt_vocab_size=len(tgt_vocab),
        dim_feedforward=FF,
        dropout=DROPOUT,
    )
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=SPECIALS["<pad>"])
    optim = torch.optim.Adam(model.parameters(), lr=LR, betas=(0.9, 0.98), eps=1e-9)
    for epoch in range(1, EPOCHS + 1):
        train_loss = train(model, train_dl, loss_fn, optim)
        val_loss = validate(model, valid_dl, loss_fn)
        print(f"Epoch: {epoch} Train loss: {train_loss:.3f} Val loss: {val_loss:.3f}")


if __name__ == "__main__":
    main()
