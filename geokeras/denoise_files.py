"""Moved to `geokeras.denoise.files` (kept so that ``from geokeras.denoise_files import denoise_files`` works)."""
from geokeras.denoise.files import DenoiseFile, DenoisePlan, denoise_files, plan_denoise  # noqa: F401

__all__ = ["DenoiseFile", "DenoisePlan", "denoise_files", "plan_denoise"]
