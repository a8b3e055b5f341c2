"""The Dask worker plugin of `geokeras.denoise.executor` (a module of its own: importing it imports
``dask.distributed``, which a run in one process never needs)."""
from distributed.diagnostics.plugin import WorkerPlugin


class WorkerSetup(WorkerPlugin):
    """Dask worker plugin: limit TensorFlow to the worker's threads and import Keras before any task runs.

    Registered by `run_files` on every worker (also on workers that join or restart later). Importing Keras
    here, in the worker's main thread, matters: Dask's serializers import Keras lazily in that thread, and two
    threads importing TensorFlow at once can deadlock (``_DeadlockError`` on a ``tensorflow.python`` module).
    """

    name = "geokeras-worker-setup"

    def setup(self, worker):
        from geokeras.utils import set_threads

        set_threads(worker.state.nthreads)
        import keras  # noqa: F401 - Keras and TensorFlow, in the worker's main thread

        import geokeras.denoise.files  # noqa: F401 - the job's modules
