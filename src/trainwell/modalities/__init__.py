"""Every kind of data ``trainwell fit`` trains on, behind one contract.

* :mod:`~trainwell.modalities.base`: the :class:`~trainwell.modalities.base.Modality` protocol
  and :class:`~trainwell.modalities.base.Samples`, what a modality hands the pipeline;
* :mod:`~trainwell.modalities.registry`: the registered modalities, in the order they are
  asked whether they claim the data;
* one module per modality: ``table``, ``image``, ``audio``, ``text``, ``series``.

Data layouts:

* tables: a CSV or Parquet file, or a DataFrame;
* images: a folder with one sub-folder per class, ``trainwell fit photos/ --target label``;
* audio: a folder of sound files (WAV, FLAC, OGG) with one sub-folder per class,
  ``trainwell fit sounds/ --target label`` (``pip install "trainwell[audio]"``);
* text: a table with a text column, ``--text review``;
* time series: a long table, one row per time step, ``--series id --time t``: the rows of
  one id ordered by ``t`` form one example; its numeric columns are the channels.
"""
