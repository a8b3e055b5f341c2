"""Package-level checks: the TensorFlow backend is enforced, importing stays light."""
import subprocess
import sys

import pytest


def _run(code, **env):
    import os

    full_env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    full_env.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env)


def test_other_backend_is_refused_with_clear_message():
    res = _run("import geokeras", KERAS_BACKEND="jax")
    assert res.returncode == 1, res.stderr
    assert res.stderr.rstrip().splitlines()[-1] == (
        "ImportError: geokeras needs the TensorFlow backend of Keras. Received KERAS_BACKEND='jax'; "
        "unset it or set KERAS_BACKEND=tensorflow."
    )


def test_default_backend_is_tensorflow():
    res = _run("import geokeras, keras; print(keras.backend.backend())")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().endswith("tensorflow")


def test_version_is_exposed():
    import geokeras

    assert geokeras.__version__.count(".") == 2


def test_atomic_path_leaves_nothing_on_failure_and_normal_permissions(tmp_path):
    import os
    import stat

    from geokeras.utils import atomic_path

    target = tmp_path / "out.mseed"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="^disk full$"):
        with atomic_path(target) as tmp:
            with open(tmp, "w") as f:
                f.write("half")
            raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["out.mseed"]

    with atomic_path(target) as tmp:
        assert tmp.endswith(".mseed") and os.path.dirname(tmp) == str(tmp_path)
        with open(tmp, "w") as f:
            f.write("new")
    assert target.read_text() == "new"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o666 & ~mask
