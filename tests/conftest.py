"""Shared fixtures: a fixed seed per test, the Agg backend, no network (`_no_network`: a connection to anything
but this machine fails), derandomized hypothesis on CI."""
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

# CI runs the same property-test examples every time (a failure there is reproducible); local runs
# draw new ones, which is how new edge cases get found (then pin them with @example).
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _seed():
    import keras

    keras.utils.set_random_seed(1234)
    yield


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


_LOCAL_HOSTS = ("localhost", "::1", "0.0.0.0", "")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Refuse socket connections to other machines (local Dask clusters and Unix sockets still work)."""
    import socket

    connect = socket.socket.connect

    def local_only(self, address):
        host = address[0] if isinstance(address, tuple) else None
        if host is not None and not (host in _LOCAL_HOSTS or str(host).startswith("127.")):
            raise OSError(f"tests do not use the network: refused a connection to {address!r} (tests/conftest.py)")
        return connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", local_only)
