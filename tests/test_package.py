"""Package-level checks: the TensorFlow backend is enforced, importing stays light."""
import subprocess
import sys


def _run(code, **env):
    import os

    full_env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    full_env.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env)


def test_other_backend_is_refused_with_clear_message():
    res = _run("import geokeras", KERAS_BACKEND="jax")
    assert res.returncode != 0
    assert "geokeras needs the TensorFlow backend" in res.stderr
    assert "KERAS_BACKEND='jax'" in res.stderr


def test_default_backend_is_tensorflow():
    res = _run("import geokeras, keras; print(keras.backend.backend())")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().endswith("tensorflow")


def test_version_is_exposed():
    import geokeras

    assert geokeras.__version__.count(".") == 2
