"""Text: a column of a CSV or Parquet file (``--text review``), one example per row.

Texts are tokenized once: by the pre-trained encoder's own tokenizer (``transformers``)
when fine-tuning one, else by a word vocabulary built on the training split only. Empty
texts and near-duplicate texts across splits (normalized text, then TF-IDF cosine) are
audit findings (TW-D01, TW-D06).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from trainwell.config import AugmentConfig, FitConfig
from trainwell.errors import DataError, did_you_mean
from trainwell.findings import Finding
from trainwell.modalities.base import Augment, Inputs, Samples
from trainwell.split import Splits

WORD = re.compile(r"\w+", re.UNICODE)
PAD, UNK = 0, 1
MAX_VOCAB = 20_000
# TW-D06: texts whose character n-gram TF-IDF vectors have cosine similarity at least this
# high are near-duplicates (the same text re-typed, re-punctuated or lightly edited).
SIMILARITY = 0.9


def normalize(text: str) -> str:
    """Case-folded words joined by single spaces: punctuation and spacing do not count."""
    return " ".join(WORD.findall(text.casefold()))


def read_texts(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        raise DataError(
            f"--text column {column!r} is not in the data{did_you_mean(column, frame.columns)}; "
            f"columns are: {', '.join(map(repr, list(frame.columns)[:20]))}"
        )
    return frame[column].fillna("").astype(str)


class WordVocab:
    """Lower-cased words seen in the training texts, most frequent first (0 pad, 1 unknown)."""

    def __init__(self, words: list[str]) -> None:
        self.words = words
        self.index = {w: i + 2 for i, w in enumerate(words)}

    @classmethod
    def fit(cls, texts: list[str], max_size: int = MAX_VOCAB) -> WordVocab:
        counts = Counter(w for t in texts for w in WORD.findall(t.casefold()))
        return cls([w for w, _ in counts.most_common(max_size)])

    def encode(self, texts: list[str], length: int) -> tuple[torch.Tensor, torch.Tensor]:
        ids = torch.zeros(len(texts), length, dtype=torch.long)
        for i, text in enumerate(texts):
            row = [self.index.get(w, UNK) for w in WORD.findall(text.casefold())][:length]
            ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        return ids, (ids != PAD).long()


def tokenize(texts: list[str], encoding: dict[str, Any], folder: Path | None = None) -> Inputs:
    """Token ids and attention mask as the model was trained with (``encoding``)."""
    length = int(encoding["max_tokens"])
    if encoding["tokenizer"] == "words":
        return WordVocab(encoding["vocab"]).encode(texts, length)
    from transformers import AutoTokenizer

    source = str(folder) if folder is not None else encoding["source"]
    tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
    batch = tokenizer(
        texts, padding="max_length", truncation=True, max_length=length, return_tensors="pt"
    )
    return batch["input_ids"].long(), batch["attention_mask"].long()


def load(
    frame: pd.DataFrame,
    cfg: FitConfig,
    *,
    train_rows: np.ndarray | None = None,
    encoder_source: str | None = None,
    for_predict: dict[str, Any] | None = None,
    folder: Path | None = None,
) -> Samples:
    """Tokenize the ``--text`` column: with the encoder's tokenizer (``encoder_source``), or
    a word vocabulary fitted on ``train_rows`` only (TW-D08)."""
    column = for_predict["column"] if for_predict else cfg.data.text
    assert column is not None
    texts = read_texts(frame, column).tolist()
    if for_predict is not None:
        encoding = for_predict
    elif encoder_source is not None:
        encoding = {
            "modality": "text", "column": column, "tokenizer": "pretrained",
            "source": encoder_source, "max_tokens": cfg.model.max_tokens,
        }  # fmt: skip
    else:
        rows = train_rows if train_rows is not None else np.arange(len(texts))
        vocab = WordVocab.fit([texts[i] for i in rows])
        encoding = {
            "modality": "text", "column": column, "tokenizer": "words",
            "vocab": vocab.words, "max_tokens": cfg.model.max_tokens,
        }  # fmt: skip
    inputs = tokenize(texts, encoding, folder)
    lengths = np.array([len(WORD.findall(t)) for t in texts])
    return Samples(
        kind="text",
        frame=frame,
        key=column,
        inputs=inputs,
        encoding=encoding,
        info={
            "texts": len(texts),
            "median_words": float(np.median(lengths)) if len(lengths) else 0.0,
            "truncated": int((inputs[1].sum(1) >= encoding["max_tokens"]).sum()),
        },
        extras={"texts": texts},
    )


def check_empty(samples: Samples, limit: int) -> Finding | None:
    """Empty or whitespace-only texts (TW-D01): nothing to learn from, yet they carry labels."""
    texts = samples.extras["texts"]
    empty = [i for i, t in enumerate(texts) if not normalize(t)]
    if not empty:
        return None
    return Finding(
        id="empty-texts",
        practice="TW-D01",
        severity="warning",
        stage="audit",
        message=f"{len(empty)} texts in {samples.key!r} are empty or hold no words "
        f"(rows {empty[:5]}).",
        evidence={"rows": empty[:limit], "count": len(empty)},
        fix="Drop those rows or fill in the text; they can only teach the label prior.",
    )


def check_near_duplicates(
    samples: Samples, splits: Splits, error_fraction: float, limit: int
) -> Finding | None:
    """Validation and test texts equal to a training text after normalization, or with
    character n-gram TF-IDF cosine similarity >= :data:`SIMILARITY` (TW-D06)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.neighbors import NearestNeighbors

    texts = [normalize(t) for t in samples.extras["texts"]]
    train = [texts[i] for i in splits.train]
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), min_df=1)
    try:
        train_vectors = vectorizer.fit_transform(train)
    except ValueError:  # only empty texts in train: nothing to compare
        return None
    index = NearestNeighbors(n_neighbors=1, metric="cosine").fit(train_vectors)
    per_split: dict[str, Any] = {}
    for name in ("validation", "test"):
        rows = splits.indices(name)
        distance, nearest = index.kneighbors(vectorizer.transform([texts[i] for i in rows]))
        similar = 1.0 - distance[:, 0]
        hit = (similar >= SIMILARITY) & np.array([bool(texts[i]) for i in rows])
        if hit.any():
            per_split[name] = {
                "texts": int(hit.sum()),
                "fraction": round(float(hit.mean()), 6),
                "pairs": [
                    [int(r), int(splits.train[t]), round(float(s), 3)]
                    for r, t, s in zip(
                        rows[hit][:limit], nearest[hit, 0][:limit], similar[hit][:limit],
                        strict=True,
                    )
                ],
            }  # fmt: skip
    if not per_split:
        return None
    worst = max(v["fraction"] for v in per_split.values())
    counts = " and ".join(
        f"{v['texts']} {s} texts ({v['fraction']:.1%})" for s, v in per_split.items()
    )
    return Finding(
        id="near-duplicate-across-splits",
        practice="TW-D06",
        severity="error" if worst > error_fraction else "warning",
        stage="audit",
        message=f"{counts} are (near-)copies of training texts (similarity >= {SIMILARITY}).",
        evidence={
            "signature": "normalized text, char 3-5-gram TF-IDF cosine",
            "pairs_are": "[held-out row, train row, similarity]",
            **per_split,
        },
        fix="Remove repeated texts before training (df.drop_duplicates(subset=[TEXT])), or "
        "split by the column that ties them: --group COL; to proceed knowingly: "
        "--allow near-duplicate-across-splits",
    )


def augmenter(cfg: AugmentConfig) -> tuple[Augment | None, dict[str, Any]]:
    """Token dropout for the training batches (TW-D10): each real token is masked out with
    probability ``token_dropout`` (never the first, so no text becomes empty)."""
    if not cfg.enabled or cfg.token_dropout == 0:
        return None, {"enabled": False}
    p = cfg.token_dropout

    def augment(inputs: Inputs, gen: torch.Generator) -> Inputs:
        ids, mask = inputs
        drop = (torch.rand(mask.shape, generator=gen) < p) & (mask > 0)
        drop[:, 0] = False
        return ids, mask * (~drop).long()

    return augment, {"token_dropout": p}


def baseline_features(samples: Samples, train_rows: np.ndarray) -> Any:
    """TF-IDF word and bigram features fitted on the training texts, for the linear
    baseline (TW-A08)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = [normalize(t) for t in samples.extras["texts"]]
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True)
    vectorizer.fit([texts[i] for i in train_rows])
    return vectorizer.transform(texts)
