"""geokeras: autoencoders on Keras 3 for geoscience signals."""
import os as _os

_backend = _os.environ.setdefault("KERAS_BACKEND", "tensorflow")
if _backend != "tensorflow":
    raise ImportError(
        "geokeras needs the TensorFlow backend of Keras. "
        f"Received KERAS_BACKEND={_backend!r}; unset it or set KERAS_BACKEND=tensorflow."
    )
# TensorFlow's native start-up lines (oneDNN, CUDA) silenced, unless the user set TF_CPP_MIN_LOG_LEVEL
from geokeras.utils import quiet_tensorflow_import as _quiet_tensorflow_import  # noqa: E402

_quiet_tensorflow_import()

__version__ = "0.1.0"


def __getattr__(name):
    """``geokeras.adapt`` (`geokeras.adaptation.adapt`), imported on first use: ``import geokeras`` stays light."""
    if name == "adapt":
        from geokeras.adaptation import adapt

        return adapt
    raise AttributeError(f"module 'geokeras' has no attribute {name!r}")
