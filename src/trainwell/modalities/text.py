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

from trainwell.config import FitConfig, Task, TextOptions
from trainwell.data import read_table
from trainwell.data.schema import check_group_columns
from trainwell.errors import ConfigError, require_column
from trainwell.findings import Finding
from trainwell.modalities.base import Augment, DataSource, Inputs, Read, Samples
from trainwell.modalities.common import (
    NETWORK_OPTIONS,
    BaseModality,
    backbone_network,
    check_weights_file,
    rows_dataset,
)
from trainwell.modalities.table import read_frame
from trainwell.models import Choice, build_backbone, choose_architecture
from trainwell.models.text import HFEncoder
from trainwell.models.transfer import text_source
from trainwell.split import Splits

# The folder, inside the model folder, that holds a pre-trained tokenizer's files.
TOKENIZER = "tokenizer"

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
    require_column(frame.columns, column, "--text")
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
            "source": encoder_source, "max_tokens": cfg.text.max_tokens,
        }  # fmt: skip
    else:
        rows = train_rows if train_rows is not None else np.arange(len(texts))
        vocab = WordVocab.fit([texts[i] for i in rows])
        encoding = {
            "modality": "text", "column": column, "tokenizer": "words",
            "vocab": vocab.words, "max_tokens": cfg.text.max_tokens,
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


def augmenter(cfg: TextOptions, enabled: bool = True) -> tuple[Augment | None, dict[str, Any]]:
    """Token dropout for the training batches (TW-D10): each real token is masked out with
    probability ``token_dropout`` (never the first, so no text becomes empty)."""
    if not enabled or cfg.token_dropout == 0:
        return None, {"enabled": False}
    p = cfg.token_dropout

    def augment(inputs: Inputs, gen: torch.Generator) -> Inputs:
        ids, mask = inputs
        drop = (torch.rand(mask.shape, generator=gen) < p) & (mask > 0)
        drop[:, 0] = False
        return ids, mask * (~drop).long()

    return augment, {"token_dropout": p}


class Tfidf:
    """TF-IDF of words and word pairs fitted on the training texts (scikit-learn's
    ``TfidfVectorizer``, sublinear term frequency): the linear baseline's features (TW-A08).

    Kept as its vocabulary and IDF weights (JSON), never pickled.
    """

    def __init__(self, vectorizer: Any) -> None:
        self.vectorizer = vectorizer

    @classmethod
    def fit(cls, texts: list[str]) -> Tfidf:
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True)
        vectorizer.fit([normalize(t) for t in texts])
        return cls(vectorizer)

    def transform(self, samples: Samples) -> Any:
        return self.vectorizer.transform([normalize(t) for t in samples.extras["texts"]])

    def to_json(self) -> dict[str, Any]:
        vocabulary = {str(k): int(v) for k, v in self.vectorizer.vocabulary_.items()}
        return {"name": "tfidf", "vocabulary": vocabulary, "idf": self.vectorizer.idf_.tolist()}

    @classmethod
    def from_json(cls, spec: dict[str, Any]) -> Tfidf:
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorizer = TfidfVectorizer(
            ngram_range=(1, 2), sublinear_tf=True, vocabulary=spec["vocabulary"]
        )
        vectorizer.idf_ = np.asarray(spec["idf"], dtype=np.float64)
        return cls(vectorizer)


class TextModality(BaseModality):
    """A table with a text column (``--text review``) and a target."""

    name = "text"
    options = NETWORK_OPTIONS | {
        "text.max_tokens",
        "data.text",
        "data.group",
        "text.token_dropout",
    }

    def claims(self, data: DataSource, cfg: FitConfig) -> bool:
        return cfg.data.text is not None

    def read(self, data: DataSource, cfg: FitConfig) -> Read:
        check_weights_file(cfg)
        frame, source, sha, path = read_frame(data)
        assert cfg.data.text is not None
        read_texts(frame, cfg.data.text)  # a clear error for a missing column
        if cfg.data.target and cfg.data.target in frame.columns:
            frame = frame.loc[frame[cfg.data.target].notna()].reset_index(drop=True)
        keep = [cfg.data.text, cfg.data.target, cfg.data.group, *cfg.report.groups]
        columns = list(dict.fromkeys(c for c in keep if c and c in frame.columns))
        dataset = rows_dataset(frame[columns], cfg, source, sha)
        check_group_columns(dataset.frame, cfg.report.groups, dataset.target)
        return Read(dataset, None, path)

    def choose(self, read: Read, splits: Splits, cfg: FitConfig) -> Choice:
        name = cfg.model.name
        weights = (
            text_source(name, cfg.model.pretrained, cfg.model.download)
            if name != "bag_of_embeddings"
            else None
        )
        choice = choose_architecture(
            "text", name, n_train=len(splits.train), pretrained=cfg.model.pretrained,
            text_weights=weights,
        )  # fmt: skip
        if choice.name != "bag_of_embeddings" and choice.pretrained is None:
            raise ConfigError(
                f"pre-trained text encoder {choice.name!r} not found offline; pass "
                "model.pretrained=FOLDER, allow a download with model.download=true, or "
                "train from scratch with model.name=bag_of_embeddings"
            )
        return choice

    def encode(self, read: Read, splits: Splits, choice: Choice, cfg: FitConfig) -> Samples:
        # Tokenized now that the split (and the encoder) is known: a word vocabulary is
        # fitted on the training texts only (TW-D08).
        source = choice.pretrained if choice.name != "bag_of_embeddings" else None
        return load(read.dataset.frame, cfg, train_rows=splits.train, encoder_source=source)

    def audit_checks(
        self, samples: Samples, splits: Splits, cfg: FitConfig
    ) -> list[Finding | None]:
        limit, share = cfg.audit.evidence_limit, cfg.audit.shared_rows_error_fraction
        return [check_empty(samples, limit), check_near_duplicates(samples, splits, share, limit)]

    def build_network(
        self,
        samples: Samples,
        choice: Choice,
        task: Task,
        n_classes: int,
        y_train: np.ndarray,
        weighted: bool,
        cfg: FitConfig,
    ) -> tuple[torch.nn.Module, dict[str, Any]]:
        if choice.name == "bag_of_embeddings":
            vocab = len(samples.encoding["vocab"]) + 2
            backbone = build_backbone({"name": "bag_of_embeddings", "vocab_size": vocab})
            transfer: dict[str, Any] = {"pretrained": None}
        else:
            assert choice.pretrained is not None
            backbone = HFEncoder.from_pretrained(choice.pretrained, download=cfg.model.download)
            transfer = {"pretrained": choice.pretrained}
        return backbone_network(backbone, choice, samples, task, n_classes, y_train, cfg, transfer)

    def augmenter(self, samples: Samples, cfg: FitConfig) -> tuple[Augment | None, dict[str, Any]]:
        return augmenter(cfg.text, cfg.augment.enabled)

    def baseline_features(self, train: Samples) -> Tfidf:
        return Tfidf.fit(train.extras["texts"])

    def export(self, encoding: dict[str, Any], folder: Path) -> tuple[dict[str, Any], list[Path]]:
        """A pre-trained tokenizer's files go with the model (JSON and text, no pickle)."""
        if encoding.get("tokenizer") != "pretrained":
            return encoding, []
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(encoding["source"], local_files_only=True)
        saved = tokenizer.save_pretrained(str(folder / TOKENIZER))
        files = [Path(name) for name in saved if Path(name).is_file()]
        return {**encoding, "source": TOKENIZER}, files

    def predict_samples(self, data: DataSource, encoding: dict[str, Any], folder: Path) -> Samples:
        frame = data if isinstance(data, pd.DataFrame) else read_table(data)
        return load(frame, FitConfig(), for_predict=encoding, folder=folder / TOKENIZER)

    def served_fields(self, encoding: dict[str, Any]) -> dict[str, str]:
        """One example is its text, under the text column's name."""
        return {encoding["column"]: "text"}

    def drift_features(self, samples: Samples) -> dict[str, tuple[str, pd.Series]]:
        """Each text's length in characters and in words, and with a word vocabulary the
        share of its (first ``max_tokens``) words the vocabulary does not know: texts of
        another length, language or domain move these."""
        texts = samples.extras["texts"]
        features = {
            "characters": ("numeric", pd.Series([len(t) for t in texts], dtype=float)),
            "words": ("numeric", pd.Series([len(WORD.findall(t)) for t in texts], dtype=float)),
        }
        if samples.encoding["tokenizer"] == "words":
            ids, mask = samples.inputs
            tokens = mask.sum(dim=1).double()
            unknown = ((ids == UNK) & (mask > 0)).sum(dim=1).double() / tokens  # NaN: no words
            features["unknown words"] = ("numeric", pd.Series(unknown.numpy(), dtype=float))
        return features

    def predict_frame(self, samples: Samples, predictions: pd.DataFrame) -> pd.DataFrame:
        predictions.index = samples.frame.index
        return predictions

    def load_features(self, spec: dict[str, Any]) -> Tfidf:
        return Tfidf.from_json(spec)
