"""``trainwell lr-find``: the LR range test (TW-T02) on the network ``fit`` would train.

The data is read, split and encoded as ``fit`` does it (:func:`trainwell.pipeline.prepare`,
same config and seed), the network is built by the trainer setup ``fit`` uses (same
architecture, initial weights, batches, optimizer and clipping, for every modality), then
the range test of :mod:`trainwell.train.range_test` runs on the training split and its curve
is plotted. Its suggestion is the one ``fit`` records in ``RUN_DIR/lr_find.json`` (it runs
the same test by default, ``train.lr=auto``). Nothing is trained for keeps and no run
directory is made; the audit's blocking errors are left to ``trainwell audit``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Unpack

from trainwell.config import DataSpec, options_config
from trainwell.errors import ConfigError
from trainwell.modalities.base import DataSource
from trainwell.pipeline import class_weights_for, prepare
from trainwell.reproducibility import reproducible
from trainwell.train.range_test import RangeTest
from trainwell.trainer import setup_trainer

PLOT_SUFFIXES = (".png", ".svg", ".pdf")


def lr_find(
    data: DataSource,
    target: str | None = None,
    *,
    seed: int | None = None,
    config: str | Path | None = None,
    overrides: Sequence[str] = (),
    plot: str | Path | None = None,
    **spec: Unpack[DataSpec],
) -> RangeTest:
    """Run the LR range test on the network ``fit`` would build for ``data``.

    Args:
        data, target, seed, config, overrides, spec: as for :func:`trainwell.fit` (a
            folder of class sub-folders, ``text`` or ``series`` for images, text and time
            series: the sweep then runs on their network); ``train.lr_find_method`` and
            ``train.lr_find_steps`` shape the test.
        plot: write the curve here (``.png``, ``.svg`` or ``.pdf``); None draws nothing.

    Returns:
        The :class:`~trainwell.train.range_test.RangeTest`: curve, suggestion and reason.

    Raises:
        TrainwellError: bad data, options or plot path (before anything is computed).

    Example:
        >>> from trainwell import lr_find
        >>> test = lr_find("data.csv", target="y", plot="lr.png")  # doctest: +SKIP
        >>> test.suggestion, test.reason  # doctest: +SKIP
    """
    if plot is not None and Path(plot).suffix.lower() not in PLOT_SUFFIXES:
        raise ConfigError(f"--plot {str(plot)!r}: the file must end in " + ", ".join(PLOT_SUFFIXES))
    if plot is not None and not Path(plot).resolve().parent.is_dir():
        raise ConfigError(f"--plot {str(plot)!r}: folder {str(Path(plot).parent)!r} does not exist")
    cfg = options_config(config, overrides, target=target, seed=seed, spec=spec)
    prepared = prepare(data, cfg, block=False, audit=False)
    train, y_train = prepared.split("train")
    weights, _ = class_weights_for(prepared.dataset, y_train, cfg)
    with reproducible(cfg.seed, cfg.train.deterministic):
        trainer = setup_trainer(
            prepared.modality, train, y_train, prepared.choice, prepared.dataset.task,
            prepared.n_classes, weights, cfg,
        )  # fmt: skip
        test = trainer.range_test(cfg)
    if plot is not None:
        plot_range_test(test, Path(plot))
    return test


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
