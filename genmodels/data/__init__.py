"""Datasets, the input pipeline and (de)quantisation. See docs/data.md."""
from genmodels.data import transforms
from genmodels.data.base import DatasetInfo, Source
from genmodels.data.datasets import DATASET_NAMES, EMBEDDED_NAMES, TFDS_NAMES, get_info, get_source
from genmodels.data.pipeline import eval_batches, train_batches, train_dataset
from genmodels.data.transforms import (
    dequantize,
    level_index,
    level_value,
    on_level_grid,
    to_signed,
    to_uint8,
)

__all__ = [
    "DATASET_NAMES", "EMBEDDED_NAMES", "TFDS_NAMES", "DatasetInfo", "Source", "dequantize",
    "eval_batches", "get_info", "get_source", "level_index", "level_value", "on_level_grid",
    "to_signed", "to_uint8", "train_batches", "train_dataset", "transforms",
]
