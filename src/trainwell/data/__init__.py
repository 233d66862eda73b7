"""Data in: reading tables, inferring the task and column kinds (the first pipeline stage)."""

from trainwell.data.load import read_table
from trainwell.data.schema import ColumnSpec, Dataset, build_dataset

__all__ = ["ColumnSpec", "Dataset", "build_dataset", "read_table"]
