"""Training denoisers: ``from geokeras.training import train_denoiser``.

- `geokeras.training.families`: the names of the denoiser families (Keras-free, for the command line);
- `geokeras.training.sources`: signal and noise sources, split by station (`geokeras.data.datasets.station_split`);
- `geokeras.training.callbacks`: checkpoints for resume, early stopping, learning-rate decay, a time limit
  checked after every batch (`time_limit`), the best weights restored (`best_weights`);
- `geokeras.training.strategies`: ``tf.distribute`` strategies and `distributed_fit`;
- `geokeras.training.train`: `train_denoiser`, the logic of ``geokeras train``, in named steps; the public ones
  (`validation_pairs`, `pair_dataset`, `geokeras.training.train.fit`) also serve the fine-tuning of
  `geokeras.adaptation`.

Importing this package imports neither Keras nor TensorFlow nor ObsPy (``geokeras --help`` stays fast): the
names of `geokeras.training.sources` and `geokeras.training.train` are imported on first use.
"""
import importlib

from geokeras.training.families import DENOISER_FAMILIES, check_family, denoiser_builder
from geokeras.training.strategies import STRATEGIES, distributed_fit, make_strategy, strategy_scope

_LAZY = {"train_denoiser": "train", "normalize_pairs": "train", "normalize_pairs_tf": "train",
         "validation_pairs": "train", "pair_dataset": "train", "time_limit": "callbacks", "best_weights": "callbacks",
         "load_sources": "sources", "bundled_sources": "sources", "file_sources": "sources"}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f"geokeras.training.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'geokeras.training' has no attribute {name!r}")

__all__ = ["train_denoiser", "normalize_pairs", "normalize_pairs_tf", "validation_pairs", "pair_dataset", "time_limit",
           "best_weights", "load_sources", "bundled_sources",
           "file_sources", "DENOISER_FAMILIES", "check_family", "denoiser_builder", "STRATEGIES", "make_strategy",
           "strategy_scope", "distributed_fit"]
