"""Safe loading of ``.keras`` files: ``safe_mode=True`` always, no Lambda layers, no unknown classes.

The bytes that are inspected are the bytes that are loaded: a model file is read once (symlinks resolved),
recognized by its first bytes (a zip archive, never by its extension: an HDF5 file named ``.keras``, or an
HDF5 model with a ``.keras`` zip appended, is refused), its members' sizes checked (``config.json`` and
``metadata.json`` at most `MAX_JSON_BYTES` each, all members at most `MAX_ARCHIVE_BYTES` uncompressed: a
decompression bomb is refused in milliseconds), its config inspected (`inspect_config`), and the same bytes
handed to Keras's ``.keras`` loader with ``safe_mode=True``.
"""
import io
import json
import os
import tempfile
import zipfile

import keras

from geokeras.errors import ModelError, one_line
# Keras-free, so that the denoise path reads and checks model files without importing Keras
from geokeras.utils import MAX_ARCHIVE_BYTES, MAX_JSON_BYTES, ZIP_MAGIC, not_a_model_file, read_model_file

__all__ = ["load_model", "load_model_bytes", "read_model_file", "inspect_config", "MAX_JSON_BYTES", "MAX_ARCHIVE_BYTES"]

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"  # at offset 0, 512, 1024, 2048, ... (HDF5 user blocks)

_KERAS_PACKAGES = {"keras", "keras_hub", "keras_cv", "keras_nlp"}


def _register_geokeras():
    # Importing the modules runs their @register_keras_serializable decorators.
    import geokeras.layers  # noqa: F401
    import geokeras.models  # noqa: F401
    import geokeras.regularizers  # noqa: F401
    import geokeras.models.denoiser  # noqa: F401  (registers the denoiser layers)
    import geokeras.training.losses  # noqa: F401  (a compiled checkpoint names its training loss)


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


def _hdf5_offset(data):
    offset = 0
    while offset + 8 <= len(data):
        if data[offset:offset + 8] == _HDF5_MAGIC:
            return offset
        offset = 512 if offset == 0 else offset * 2
    return None


def _read_json_member(archive, name, path):
    """Parse member ``name`` of the archive, refusing one larger than `MAX_JSON_BYTES` before reading it."""
    info = archive.getinfo(name)
    if info.file_size > MAX_JSON_BYTES:
        raise ModelError(f"Refusing to load {path!r}: its {name} is {info.file_size} bytes uncompressed, more "
                         f"than the {MAX_JSON_BYTES} a model's {name} may have (a decompression bomb?).")
    with archive.open(info) as f:
        raw = f.read(MAX_JSON_BYTES + 1)  # never more, whatever the header says
    if len(raw) > MAX_JSON_BYTES:
        raise ModelError(f"Refusing to load {path!r}: its {name} is larger than {MAX_JSON_BYTES} bytes.")
    return json.loads(raw)


def _inspect_archive(data, path):
    """The parsed ``config.json`` of the ``.keras`` bytes ``data``, every size checked first."""
    hdf5 = _hdf5_offset(data)
    if hdf5 is not None:
        raise not_a_model_file(path, f" (an HDF5 file: its signature is at byte {hdf5}; legacy HDF5 models are refused, "
                      "Keras's safe mode does not cover them: re-save the model as `.keras`)")
    if data[:4] != ZIP_MAGIC:
        raise not_a_model_file(path)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            names = [i.filename for i in infos]
            if len(set(names)) != len(names):
                raise ModelError(f"Refusing to load {path!r}: the archive holds members with the same name.")
            total = sum(i.file_size for i in infos)
            if total > MAX_ARCHIVE_BYTES:
                raise ModelError(f"Refusing to load {path!r}: its members are {total} bytes uncompressed, more "
                                 f"than {MAX_ARCHIVE_BYTES} (a decompression bomb?).")
            if "metadata.json" in names:
                _read_json_member(archive, "metadata.json", path)
            return _read_json_member(archive, "config.json", path)
    except (KeyError, ValueError, zipfile.BadZipFile) as err:
        if isinstance(err, ModelError):
            raise
        raise ModelError("Invalid value for argument `path`. Expected a `.keras` file with a readable "
                         f"config.json. Received path={path!r} ({one_line(err)}).") from None


def load_model_bytes(data, custom_objects=None, compile=True, path="<bytes>"):
    """Load the ``.keras`` model held in ``data`` (bytes): the checks of `load_model` on exactly these bytes.

    Args:
        data: the bytes of a ``.keras`` file.
        custom_objects, compile: see `load_model`.
        path: the name used in messages.
    """
    config = _inspect_archive(data, path)
    _register_geokeras()
    try:
        inspect_config(config, custom_objects)
    except ModelError as err:
        raise ModelError(f"{err} File: {path!r}.") from None
    with tempfile.TemporaryDirectory() as tmp:  # Keras picks its loader by extension: the zip loader, here
        local = os.path.join(tmp, "model.keras")
        with open(local, "wb") as f:
            f.write(data)
        try:
            return keras.saving.load_model(local, custom_objects=custom_objects, compile=compile, safe_mode=True)
        except TypeError as err:  # a class the inspection could not foresee
            first = str(err).split(". ")[0]
            raise ModelError(f"Refusing to load {path!r}: {first}.") from None


def load_model(path, custom_objects=None, compile=True):
    """Load a ``.keras`` model with ``safe_mode=True``, refusing Lambda layers and unknown classes.

    Every geokeras layer, regularizer and model is registered before loading. The file is read once
    (symlinks resolved) and recognized by its first bytes, not its name: a zip archive is inspected and
    loaded by Keras's ``.keras`` loader from those same bytes (`load_model_bytes`); legacy HDF5 files
    (also an HDF5 file with a zip appended, whatever its extension), whose safe mode does not apply, are
    refused. The archive's ``config.json`` is inspected first: a ``Lambda`` layer (or any serialized lambda)
    or a class that is neither a Keras built-in nor registered raises a one-line
    `~geokeras.errors.ModelError` (a ``ValueError``) before anything is deserialized; so does a member
    larger than the caps (`MAX_JSON_BYTES`, `MAX_ARCHIVE_BYTES`), checked before it is decompressed.

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
    return load_model_bytes(read_model_file(path), custom_objects=custom_objects, compile=compile, path=path)
