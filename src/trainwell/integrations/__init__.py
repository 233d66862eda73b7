"""Callbacks that bring trainwell's doctor to other training frameworks.

Each submodule imports its framework when it is imported, and says what to install when the
framework is missing::

    # pip install "trainwell[lightning]"
    from trainwell.integrations.lightning import DoctorCallback
    # pip install "trainwell[huggingface]"
    from trainwell.integrations.huggingface import DoctorCallback
"""

__all__: list[str] = []
