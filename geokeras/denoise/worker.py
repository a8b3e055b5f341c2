"""The Dask worker plugin of `geokeras.denoise.executor` (a module of its own: importing it imports
``dask.distributed``, which a run in one process never needs)."""
from distributed.diagnostics.plugin import WorkerPlugin


class WorkerSetup(WorkerPlugin):
    """Dask worker plugin: limit TensorFlow to the worker's threads and import Keras before any task runs.

    TensorFlow's intra-op threads: ``TF_NUM_INTRAOP_THREADS`` where the worker's environment sets it
    (`geokeras.denoise.executor.local_cluster`), else the worker's number of Dask threads.

    ``warm``: a callable run last, once per worker at its start-up (`geokeras.denoise.DenoiseFile.warm`: the
    model loaded and its graph traced, all workers at once; an error there is raised by ``register_plugin``,
    before any task). Registered by `run_files` on every worker (also on workers that join or restart later).
    Importing Keras here, in the worker's main thread, matters: Dask's serializers import Keras lazily in that
    thread, and two threads importing TensorFlow at once can deadlock (``_DeadlockError`` on a
    ``tensorflow.python`` module).
    """

    name = "geokeras-worker-setup"

    def __init__(self, warm=None):
        self.warm = warm  # a callable run last (e.g. `DenoiseFile.warm`: load the model, trace its graph)

    def setup(self, worker):
        import os

        from geokeras.utils import set_threads

        # a cluster of `local_cluster` says how many threads TensorFlow may use; any other: one per Dask thread
        set_threads(int(os.environ.get("TF_NUM_INTRAOP_THREADS") or worker.state.nthreads))
        import keras  # noqa: F401 - Keras and TensorFlow, in the worker's main thread

        import geokeras.denoise.files  # noqa: F401 - the job's modules

        if self.warm is not None:
            self.warm()
