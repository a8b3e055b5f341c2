"""Moved to `geokeras.training` (kept so that ``from geokeras.train import train_denoiser`` works)."""
from geokeras.training.sources import bundled_sources, file_sources, load_sources  # noqa: F401
from geokeras.training.train import normalize_pairs, normalize_pairs_tf, train_denoiser  # noqa: F401

__all__ = ["train_denoiser", "normalize_pairs", "normalize_pairs_tf", "load_sources", "bundled_sources",
           "file_sources"]
