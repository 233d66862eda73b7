"""``trainwell serve`` and ``trainwell monitor``: a shipped model behind HTTP, watching itself.

Serving stacks batch and queue but know nothing of the training data; drift tools know drift
but don't serve. A trainwell run directory has both the model and the training split's
profile, so the served model compares its own inputs and predictions with the training split,
with no set-up (TW-P05 batching, TW-P06 drift, TW-P07 A/B tests, TW-P09 versions).

Modules: :mod:`~trainwell.serve.profile` (the training split's reference, written at fit
time), :mod:`~trainwell.serve.drift` (KS / chi-square and PSI on a sliding window),
:mod:`~trainwell.serve.batching` (the dynamic batcher and its bounded queue),
:mod:`~trainwell.serve.app` (the FastAPI application), :mod:`~trainwell.serve.abtest` (sticky
A/B routing and the fixed-horizon test), :mod:`~trainwell.serve.monitor` (the report from the
served log), :mod:`~trainwell.serve.docker` (pinned requirements and a Dockerfile).

Only :mod:`~trainwell.serve.app` needs the ``serve`` extras (FastAPI, uvicorn,
prometheus-client); it is imported lazily.
"""
