"""Denoising records and files with a trained denoiser: ``from geokeras.denoise import denoise, Denoiser``.

One concept per module, imported in this order (each imports only those above it):

- `geokeras.denoise.denoiser`: `Denoiser`, the model resolved once (model, sha256, rates, band, predictors);
- `geokeras.denoise.options`: `DenoiseOptions`, checked once where they enter and carried down; the record
  of each output (sidecar fields) and the ``stats.processing`` line generated from it;
- `geokeras.denoise.components`: `denoise_components`, a station's aligned components with one mask per window,
  and the station groups of a Stream (used by `denoise`'s ``components=``);
- `geokeras.denoise.api`: `denoise` (Stream, Trace or array in, the same type out) and `ProgressBar`;
- `geokeras.denoise.naming`: `output_names`, the names of a file's outputs (planning, writing, resume);
- `geokeras.denoise.executor`: `run_files`, one job per file here or on Dask (generic: knows no denoiser);
- `geokeras.denoise.files`: `DenoiseFile` (the per-file job and its resume check), `plan_denoise`,
  `denoise_files`;
- `geokeras.denoise.worker`: the Dask worker plugin (imported on the Dask path only).
"""
import importlib

from geokeras.denoise.options import CLIP_FACTOR, OUT_OF_BAND, DenoiseOptions

# imported on first use, so that the command line reads the options without loading ObsPy or Keras
_LAZY = {"Denoiser": "denoiser", "worker_model_loads": "denoiser", "ProgressBar": "api", "denoise": "api",
         "denoise_stream": "api", "denoise_components": "components", "output_names": "naming",
         "run_files": "executor", "FileJob": "executor",
         "RunSummary": "executor", "DenoiseFile": "files", "DenoisePlan": "files", "denoise_files": "files",
         "plan_denoise": "files"}

__all__ = ["Denoiser", "DenoiseOptions", "denoise", "denoise_stream", "denoise_components", "ProgressBar",
           "CLIP_FACTOR", "OUT_OF_BAND",
           "output_names", "run_files", "FileJob", "RunSummary", "DenoiseFile", "DenoisePlan", "denoise_files",
           "plan_denoise", "worker_model_loads"]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f"geokeras.denoise.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'geokeras.denoise' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
