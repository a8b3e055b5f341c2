"""`StreamingDenoiser`: denoise real-time packets (SeedLink records) as they arrive, with a fixed delay.

The public import path of `geokeras.denoise.stream.StreamingDenoiser` (its module docstring states the
semantics: those of `geokeras.denoise.denoise`, from one causal definition).
"""
from geokeras.denoise.stream import StreamingDenoiser

__all__ = ["StreamingDenoiser"]
