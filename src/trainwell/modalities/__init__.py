"""Images, text and time series in ``trainwell fit`` (TW-A01, A03, A04, D10).

Data layouts:

* images: a folder with one sub-folder per class, ``trainwell fit photos/ --target label``;
* text: a CSV or Parquet file with a text column, ``--text review``;
* time series: a long table, one row per time step, ``--series id --time t``: the rows of
  one id ordered by ``t`` form one example; its numeric columns are the channels.

``prepare_modality`` reads, splits and audits (nothing written); ``fit_modality`` runs the
stages into a run directory shaped like a tabular one. Tables never come here.
"""

from trainwell.modalities.prepare import ModalPrepared, modality_of, prepare_modality

__all__ = ["ModalPrepared", "modality_of", "prepare_modality"]
