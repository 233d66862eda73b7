"""The callbacks fit uses, one concern each."""

from trainwell.train.callbacks.checkpointing import Checkpointing
from trainwell.train.callbacks.early_stopping import EarlyStopping
from trainwell.train.callbacks.grad_norm import GradientNorm
from trainwell.train.callbacks.progress import ProgressBar
from trainwell.train.callbacks.tensorboard import TensorBoardLogger

__all__ = ["Checkpointing", "EarlyStopping", "GradientNorm", "ProgressBar", "TensorBoardLogger"]
