"""Moved to `geokeras.training.families` (kept so that ``from geokeras.families import ...`` works)."""
from geokeras.training.families import DENOISER_FAMILIES, check_family, denoiser_builder  # noqa: F401

__all__ = ["DENOISER_FAMILIES", "check_family", "denoiser_builder"]
