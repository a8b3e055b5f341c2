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
import tempfile


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to ``path``; move it onto ``path`` only if the block succeeds.

    The temporary file lives in the destination folder (so ``os.replace`` is atomic), keeps the
    destination's extension (Keras and Matplotlib look at it), and gets the permissions a plain
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
    fd, tmp = tempfile.mkstemp(prefix="." + base + ".", suffix=".tmp" + ext, dir=folder)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
