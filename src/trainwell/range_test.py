"""``trainwell lr-find``: the LR range test (TW-T02) on the network ``fit`` would train.

The data is read, split and preprocessed as ``fit`` does it (same config and seed, so the
same training rows, architecture, batches, optimizer and clipping), then the range test of
:mod:`trainwell.train.lr_find` runs on the training split and its curve is plotted. The
initial weights are drawn right after seeding, where ``fit`` draws them after its baselines,
so they (and the suggestion) can differ from the test ``fit`` runs itself. Nothing is trained
for keeps and no run directory is made; the audit is left to ``trainwell audit``.
``fit`` runs the same test by default (``train.lr=auto``) and keeps the curve in
``RUN_DIR/lr_find.json``. Images, text and time series get the sweep on their own network.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from trainwell import baselines as bl
from trainwell.config import FitConfig, options_config
from trainwell.data import build_dataset, read_table
from trainwell.data.load import file_sha256, frame_sha256
from trainwell.errors import ConfigError, DataError
from trainwell.modalities import ModalPrepared, modality_of, prepare_modality
from trainwell.modalities.network import setup_modality
from trainwell.network import setup_training
from trainwell.pipeline import class_weights_for
from trainwell.preprocess import FeatureEncoder
from trainwell.reproducibility import reproducible
from trainwell.split import make_splits
from trainwell.train.lr_find import RangeTest

PLOT_SUFFIXES = (".png", ".svg", ".pdf")


def lr_find(
    data: str | Path | pd.DataFrame,
    target: str | None = None,
    *,
    task: str | None = None,
    group: str | None = None,
    time: str | None = None,
    seed: int | None = None,
    config: str | Path | None = None,
    overrides: Sequence[str] = (),
    plot: str | Path | None = None,
    text: str | None = None,
    series: str | None = None,
) -> RangeTest:
    """Run the LR range test on the network ``fit`` would build for ``data``.

    Args:
        data, target, task, group, time, seed, config, overrides, text, series: as for
            :func:`trainwell.fit` (a folder of class sub-folders, ``text`` or ``series`` for
            images, text and time series: the sweep then runs on their network);
            ``train.lr_find_method`` and ``train.lr_find_steps`` shape the test.
        plot: write the curve here (``.png``, ``.svg`` or ``.pdf``); None draws nothing.

    Returns:
        The :class:`~trainwell.train.lr_find.RangeTest`: curve, suggestion and reason.

    Raises:
        TrainwellError: bad data, options or plot path (before anything is computed).

    Example:
        >>> from trainwell.range_test import lr_find
        >>> test = lr_find("data.csv", target="y", plot="lr.png")  # doctest: +SKIP
        >>> test.suggestion, test.reason  # doctest: +SKIP
    """
    if plot is not None and Path(plot).suffix.lower() not in PLOT_SUFFIXES:
        raise ConfigError(f"--plot {str(plot)!r}: the file must end in " + ", ".join(PLOT_SUFFIXES))
    if plot is not None and not Path(plot).resolve().parent.is_dir():
        raise ConfigError(f"--plot {str(plot)!r}: folder {str(Path(plot).parent)!r} does not exist")
    cfg = options_config(
        config, overrides, target=target, task=task, group=group, time=time, seed=seed,
        text=text, series=series,
    )  # fmt: skip
    kind = modality_of(data, cfg)
    if kind is not None:
        test = _modality_range_test(prepare_modality(data, cfg, kind, block=False), cfg)
        if plot is not None:
            plot_range_test(test, Path(plot))
        return test
    if isinstance(data, pd.DataFrame):
        if data.empty:
            raise DataError("the DataFrame has no rows")
        frame, source, sha = data.reset_index(drop=True), "<DataFrame>", frame_sha256(data)
        frame.columns = [str(c) for c in frame.columns]
    else:
        frame, source, sha = read_table(data), str(data), file_sha256(Path(data))
    dataset = build_dataset(frame, cfg.data, source, sha)
    splits = make_splits(dataset, cfg.split, cfg.seed)
    rows = splits.indices("train")
    encoder = FeatureEncoder.fit(dataset.frame.iloc[rows], dataset.features)  # TW-D08
    num, cat = encoder.transform(dataset.frame.iloc[rows].reset_index(drop=True))
    train = bl.Arrays(num, cat, dataset.y[rows])
    levels = [len(encoder.vocab[name]) for name in encoder.categorical_names]
    weights, _ = class_weights_for(dataset, train.y, cfg)
    with reproducible(cfg.seed, cfg.train.deterministic):
        setup = setup_training(dataset.task, train, levels, weights, cfg)
        test = setup.range_test(cfg)
    if plot is not None:
        plot_range_test(test, Path(plot))
    return test


def _modality_range_test(prepared: ModalPrepared, cfg: FitConfig) -> RangeTest:
    """The sweep on the network ``fit`` builds for images, text or series (frozen backbone and
    per-group learning rates included when fine-tuning)."""
    ds, splits = prepared.dataset, prepared.splits
    rows = {n: splits.indices(n) for n in ("train", "validation", "test")}
    y = {n: ds.y[r] for n, r in rows.items()}
    weights, _ = class_weights_for(ds, y["train"], cfg)
    n_classes = len(ds.classes) if ds.classes is not None else 0
    with reproducible(cfg.seed, cfg.train.deterministic):
        setup = setup_modality(
            prepared.samples, prepared.choice, ds.task, rows, y, n_classes, weights, cfg
        )
        return setup.range_test(cfg)


def plot_range_test(test: RangeTest, path: Path) -> None:
    """Draw loss against LR (log scale), raw and smoothed, with the suggestion marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from trainwell.report.figures import draw_range_test

    fig, ax = plt.subplots(figsize=(6, 4))
    draw_range_test(ax, test.lrs, test.losses, test.smoothed, test.suggestion)
    ax.set_title(f"LR range test ({test.method})")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
