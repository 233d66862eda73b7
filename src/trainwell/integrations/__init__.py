"""Callbacks that bring trainwell's doctor to other training frameworks.

Each submodule imports its framework when it is imported, and says what to install when the
framework is missing::

    from trainwell.integrations.lightning import DoctorCallback     # pip install "trainwell[lightning]"
    from trainwell.integrations.huggingface import DoctorCallback   # pip install "trainwell[huggingface]"
"""

__all__: list[str] = []
