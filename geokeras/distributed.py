"""Moved to `geokeras.denoise.executor` (kept so that ``from geokeras.distributed import run_files`` works)."""
from geokeras.denoise.executor import (  # noqa: F401
    SINGLE_THREAD_ENV, FileJob, FileResult, RunSummary, local_cluster, run_files, run_job)

__all__ = ["FileJob", "FileResult", "RunSummary", "run_files", "run_job", "local_cluster", "SINGLE_THREAD_ENV"]
