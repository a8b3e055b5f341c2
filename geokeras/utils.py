"""Small helpers shared by every layer of the package (imported from anywhere, imports nothing of geokeras).

Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "out.txt")
    >>> with atomic_path(path) as tmp:
    ...     with open(tmp, "w") as f:
    ...         _ = f.write("done")
    >>> open(path).read(), sorted(os.listdir(os.path.dirname(path)))
    ('done', ['out.txt'])
"""
import contextlib
import os
import re
import sys
import tempfile

#: size caps of a `.keras` archive, checked before anything is decompressed (`geokeras.saving`)
MAX_JSON_BYTES = 64 * 2**20  # config.json / metadata.json, read whole (the shipped model's config: 40 kB)
MAX_ARCHIVE_BYTES = 8 * 2**30  # every member of a .keras archive together, uncompressed
ZIP_MAGIC = b"PK\x03\x04"  # a zip's first local file header: what `model.save` writes first

__all__ = ["atomic_path", "clean_stale_temporaries", "quiet_tensorflow", "quiet_tensorflow_import", "safe_name",
           "set_threads"]

# ".<file name>.<pid>.<8 random characters>.tmp<extension>": the temporary files of `atomic_path`
_TEMPORARY = re.compile(r"^\.(?P<base>.+)\.(?P<pid>\d+)\.[A-Za-z0-9_]{8}\.tmp(\.[^.]*)?$")


# what may not appear in one component of a path built from data (a trace id): separators, NUL, controls
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]")


def safe_name(text):
    """``text`` made safe as part of one file name: path separators, NUL and control characters become ``_``.

    For names built from data (trace ids read from a file): the result holds no path separator, so a name
    built from it cannot leave its folder (an id ``/../../x`` gives ``_.._.._x``).

    Example:
        >>> safe_name("XX.A/B..HHZ"), safe_name("/../../.pwn")
        ('XX.A_B..HHZ', '_.._.._.pwn')
    """
    return _UNSAFE.sub("_", str(text))


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to ``path``; move it onto ``path`` only if the block succeeds.

    The temporary file ``.<name>.<pid>.<random>.tmp<ext>`` lives in the destination folder (so
    ``os.replace`` is atomic; a process killed meanwhile leaves it behind, for
    `clean_stale_temporaries`), keeps the destination's extension (Keras and Matplotlib look at it), and gets the permissions a plain
    ``open(path, "w")`` would give. On any error the temporary file is removed and ``path`` is left
    as it was: an output file is never half-written.

    Args:
        path: the destination file.

    Yields:
        str: the temporary path to write to.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    ext = os.path.splitext(base)[1]
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.{os.getpid()}.", suffix=".tmp" + ext, dir=folder)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def clean_stale_temporaries(folder):
    """Remove the temporary files `atomic_path` left in ``folder`` when its process was killed.

    Only files named like `atomic_path`'s temporaries whose process no longer exists are removed (a
    running writer's file is kept); the folder is not searched recursively.

    Args:
        folder: a folder (nothing happens when it does not exist).

    Returns:
        list of the removed paths.

    Example:
        >>> import tempfile
        >>> d = tempfile.mkdtemp()
        >>> open(os.path.join(d, ".out.mseed.999999999.abcd_123.tmp.mseed"), "w").close()  # no such pid
        >>> [os.path.basename(p) for p in clean_stale_temporaries(d)], os.listdir(d)
        (['.out.mseed.999999999.abcd_123.tmp.mseed'], [])
    """
    removed = []
    if not os.path.isdir(folder):
        return removed
    for name in sorted(os.listdir(folder)):
        match = _TEMPORARY.match(name)
        path = os.path.join(folder, name)
        if match and not _alive(int(match["pid"])) and os.path.isfile(path):
            try:
                os.unlink(path)
                removed.append(path)
            except FileNotFoundError:  # removed meanwhile by another cleaner
                pass
    return removed


@contextlib.contextmanager
def _silenced_fd2():
    """Send what native code writes to file descriptor 2 to a temporary file; replay it if the block fails."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


class _QuietImport:
    """A one-shot ``sys.meta_path`` finder: the first import of ``name`` runs with file descriptor 2 silenced
    (`_silenced_fd2`: what it printed is shown only if the import fails)."""

    def __init__(self, name):
        self.name = name

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        import importlib.util

        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            exec_module = spec.loader.exec_module

            def quiet_exec(module):
                with _silenced_fd2():
                    exec_module(module)

            spec.loader.exec_module = quiet_exec
        return spec


class _PyplotStandIn(type(sys)):
    """What ``import matplotlib.pyplot`` gives inside `pyplot_on_first_use`: the real module is imported at the
    first use of one of its attributes, and used from then on."""

    def __getattr__(self, name):
        import importlib

        if name.startswith("__"):  # the import system's questions (``__file__``, ``__path__``, ...): not a use
            raise AttributeError(name)
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), name)


class _DeferPyplot:
    """A ``sys.meta_path`` finder that gives `_PyplotStandIn` for ``matplotlib.pyplot`` (`pyplot_on_first_use`)."""

    name = "matplotlib.pyplot"

    def find_spec(self, fullname, path=None, target=None):
        import importlib.machinery

        return importlib.machinery.ModuleSpec(fullname, self) if fullname == self.name else None

    def create_module(self, spec):
        return _PyplotStandIn(spec.name)

    def exec_module(self, module):
        pass


@contextlib.contextmanager
def pyplot_on_first_use():
    """Within the block, ``import matplotlib.pyplot`` (that Keras makes at its import, for plotting helpers
    geokeras never calls: ~0.3 s) gives a stand-in that imports the real module at its first use; afterwards
    the next import of ``matplotlib.pyplot`` is the real one. Nothing changes where pyplot is imported already.

    Example:
        >>> with pyplot_on_first_use():
        ...     import matplotlib.pyplot as plt
        >>> callable(plt.figure)  # the real pyplot, imported here
        True
    """
    if _DeferPyplot.name in sys.modules:
        yield
        return
    finder = _DeferPyplot()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
        stand_in = sys.modules.get(finder.name)
        if isinstance(stand_in, _PyplotStandIn):
            del sys.modules[finder.name]
            parent = sys.modules.get("matplotlib")
            if parent is not None and getattr(parent, "pyplot", None) is stand_in:
                delattr(parent, "pyplot")


def quiet_tensorflow_import():
    """Have TensorFlow's first import, whoever makes it (Keras, a geokeras module), print no native start-up
    lines (oneDNN, "Could not find cuda drivers", absl's "All log messages before ..."), unless the user chose
    a ``TF_CPP_MIN_LOG_LEVEL``: then nothing is changed. Sets ``TF_CPP_MIN_LOG_LEVEL=3`` (also silences
    "failed call to cuInit" later). Errors that stop the import are still shown. Called by ``import geokeras``.

    Returns:
        True when the quiet import was set up.
    """
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ or "tensorflow" in sys.modules:
        return False
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if not any(isinstance(f, _QuietImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietImport("tensorflow"))
    return True


def quiet_tensorflow():
    """Import TensorFlow with its native start-up lines (oneDNN, CUDA, absl) silenced, and keep it quiet.

    Sets ``TF_CPP_MIN_LOG_LEVEL=3`` (no C++ INFO/WARNING/ERROR lines such as ``failed call to cuInit``) and
    the ``tensorflow`` and ``absl`` Python loggers to ERROR. Errors that stop the import are still shown.
    """
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if "tensorflow" not in sys.modules:
        with _silenced_fd2():
            import tensorflow  # noqa: F401
    import logging

    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:  # pragma: no cover - absl comes with TensorFlow
        pass


def set_threads(threads):
    """Limit TensorFlow to ``threads`` intra-op threads (one inter-op thread); no-op when None or too late."""
    if not threads:
        return
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already initialized: keep its settings
        pass


def not_a_model_file(path, detail=""):
    """The `~geokeras.errors.ModelError` for ``path`` that is not a ``.keras`` file (``detail`` says why)."""
    from geokeras.errors import ModelError

    return ModelError("Invalid value for argument `path`. Expected an existing `.keras` file (a zip archive "
                      f"written by `model.save`). Received path={path!r}{detail}.")


def read_model_file(path):
    """The bytes of the model file at ``path`` (symlinks resolved), refusing what is not a regular file or is
    larger than `MAX_ARCHIVE_BYTES` (`geokeras.saving` then checks what the bytes are)."""
    from geokeras.errors import ModelError

    path = os.fspath(path)
    real = os.path.realpath(path)
    if not os.path.isfile(real):
        raise not_a_model_file(path)
    size = os.path.getsize(real)
    if size > MAX_ARCHIVE_BYTES:
        raise ModelError(f"Refusing to load {path!r}: the file is {size} bytes, more than {MAX_ARCHIVE_BYTES}.")
    with open(real, "rb") as f:
        return f.read()


def release_free_memory():
    """Give the C heap's free pages back to the operating system (glibc ``malloc_trim``; elsewhere nothing).

    Readers that allocate and free many buffers (libmseed, under ``obspy.read``) leave freed memory in the
    heap that NumPy's large arrays never reuse: on a long MiniSEED record about as much as the samples.

    Returns:
        True when memory was released.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.malloc_trim(0))
    except (OSError, AttributeError):  # not glibc
        return False
