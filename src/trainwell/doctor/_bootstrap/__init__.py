"""Start-up hook for scripts run under ``trainwell doctor``.

``trainwell doctor`` puts this folder on the child's ``PYTHONPATH``, so Python's ``site``
module imports the ``sitecustomize`` next to this file at start-up. This ``__init__`` only
makes the folder ship with the package; nothing imports it.
"""
