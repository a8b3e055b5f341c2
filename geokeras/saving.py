"""Safe loading of ``.keras`` files: ``safe_mode=True`` always, no Lambda layers, no unknown classes."""
import json
import os
import zipfile

import keras

from geokeras.errors import ModelError

__all__ = ["load_model", "inspect_config"]

_KERAS_PACKAGES = {"keras", "keras_hub", "keras_cv", "keras_nlp"}


def _register_geokeras():
    # Importing the modules runs their @register_keras_serializable decorators.
    import geokeras.layers  # noqa: F401
    import geokeras.models  # noqa: F401
    import geokeras.regularizers  # noqa: F401
    import geokeras.models.denoiser  # noqa: F401  (registers the denoiser layers)


def _walk(node, path="config"):
    """Yield ``(path, dict)`` for every serialized object (a dict with a ``class_name``)."""
    if isinstance(node, dict):
        if "class_name" in node:
            yield path, node
        for key, value in node.items():
            yield from _walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}[{i}]")


def _is_known(obj, custom_objects):
    name = obj.get("class_name")
    registered = obj.get("registered_name") or name
    module = obj.get("module")
    if name in custom_objects or registered in custom_objects:
        return True
    if keras.saving.get_registered_object(registered) is not None:
        return True
    if module is None:  # plain Keras containers (__tuple__, __numpy__...); lambdas were refused before
        return True
    return module.split(".", 1)[0] in _KERAS_PACKAGES and registered == name


def inspect_config(config, custom_objects=None):
    """Raise `~geokeras.errors.ModelError` (a ``ValueError``) if a model config holds a Lambda layer, a lambda
    or an unknown class.

    Args:
        config: The model config (the parsed ``config.json`` of a ``.keras`` file).
        custom_objects: Extra names that count as known.

    Example:

    >>> inspect_config({"class_name": "Lambda", "config": {"name": "f"}, "module": "keras.layers"})
    Traceback (most recent call last):
    ...
    geokeras.errors.ModelError: Refusing to load: the model contains a Lambda layer ('f'), which can run arbitrary code. Rebuild it with registered layers instead of Lambda.
    """
    custom_objects = custom_objects or {}
    for path, obj in _walk(config):
        name = obj.get("class_name")
        if name in ("Lambda", "__lambda__"):
            layer = obj["config"].get("name", path) if isinstance(obj.get("config"), dict) else path
            raise ModelError(
                f"Refusing to load: the model contains a Lambda layer ({layer!r}), which can run "
                "arbitrary code. Rebuild it with registered layers instead of Lambda."
            )
    for path, obj in _walk(config):
        if not _is_known(obj, custom_objects):
            registered = obj.get("registered_name") or obj.get("class_name")
            raise ModelError(
                f"Refusing to load: the model uses the unknown class {registered!r} "
                f"(module {obj.get('module')!r}, at {path}). Only Keras built-ins and registered "
                "classes can be loaded; import the package that registers it or pass it in "
                "`custom_objects`."
            )


def load_model(path, custom_objects=None, compile=True):
    """Load a ``.keras`` model with ``safe_mode=True``, refusing Lambda layers and unknown classes.

    Every geokeras layer, regularizer and model is registered before loading. The file's
    ``config.json`` is inspected first: a ``Lambda`` layer (or any serialized lambda) or a
    class that is neither a Keras built-in nor registered raises a one-line
    `~geokeras.errors.ModelError` (a ``ValueError``) before anything is deserialized. Legacy HDF5 files
    (``.h5``), whose safe mode does not
    apply, are refused.

    Args:
        path: Path to a ``.keras`` file.
        custom_objects: Optional dict of extra classes/functions.
        compile: Whether to restore the compiled state (optimizer, loss).

    Returns:
        The ``keras.Model``.

    Example:

    >>> import os, tempfile
    >>> from geokeras.models import build_dense_autoencoder
    >>> path = os.path.join(tempfile.mkdtemp(), "ae.keras")
    >>> build_dense_autoencoder(4, hidden_units=(2,), tied=True).save(path)
    >>> load_model(path).name
    'dense_autoencoder'
    """
    path = os.fspath(path)
    if not os.path.isfile(path) or not zipfile.is_zipfile(path):
        raise ModelError(
            "Invalid value for argument `path`. Expected an existing `.keras` file (a zip archive "
            f"written by `model.save`). Received path={path!r}."
        )
    with zipfile.ZipFile(path) as archive:
        try:
            config = json.loads(archive.read("config.json"))
        except (KeyError, ValueError) as err:
            raise ModelError(
                "Invalid value for argument `path`. Expected a `.keras` file with a readable "
                f"config.json. Received path={path!r} ({err})."
            ) from None
    _register_geokeras()
    try:
        inspect_config(config, custom_objects)
    except ModelError as err:
        raise ModelError(f"{err} File: {path!r}.") from None
    try:
        return keras.saving.load_model(path, custom_objects=custom_objects, compile=compile, safe_mode=True)
    except TypeError as err:  # a class the inspection could not foresee
        first = str(err).split(". ")[0]
        raise ModelError(f"Refusing to load {path!r}: {first}.") from None
