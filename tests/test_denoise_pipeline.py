"""The pipelined denoise path (issue 19, fourth pass): the model of each piece in a thread of its own while the
next pieces are framed gives the bits of the sequential path; the model loaded in the background
(`Denoiser.load_in_background`) reports a bad model exactly as the load before any work did."""
import os
import zipfile

import keras
import numpy as np
import obspy
import pytest

from geokeras import cli
from geokeras.denoise import Denoiser, DenoiseOptions, pieces
from geokeras.denoise.denoiser import _load_bytes
from geokeras.errors import ModelError
from geokeras.models.denoiser import build_denoiser
from geokeras.stream import StreamingDenoiser

T0 = obspy.UTCDateTime(2021, 3, 1)


@pytest.fixture(scope="module")
def tiny():
    keras.utils.set_random_seed(0)
    return Denoiser(build_denoiser("unet1d", window_length=64, sampling_rate=100.0, filters=(2, 4)))


@pytest.fixture(scope="module")
def model_file(tiny, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    tiny.model.save(path)
    return str(path)


def _packets(seed=3):
    """Two ids in packets of random sizes with gaps, an offset and a trend; masked samples in one packet."""
    rng = np.random.default_rng(seed)
    out = []
    for sta in ("A", "B"):
        t, k = T0, 0
        while k < 6:
            n = int(rng.integers(5, 300))
            x = rng.normal(size=n) * 100 + 2000 + 0.5 * np.arange(n)
            if k == 2:
                x = np.ma.masked_array(x, mask=np.arange(n) % 97 == 5)
            out.append(obspy.Trace(x, dict(network="XX", station=sta, channel="HHZ", sampling_rate=100.0,
                                           starttime=t)))
            t += n / 100.0 + (3.0 if k == 3 else 0.0)  # one gap of 3 s
            k += 1
    return sorted(out, key=lambda tr: (tr.stats.starttime, tr.id))


def _joined(traces):
    return [(tr.id, str(tr.stats.starttime), tr.data.tobytes()) for tr in traces]


def test_staged_ahead_of_the_model_gives_the_bits_of_push(tiny):
    packets = _packets()
    ref = StreamingDenoiser(tiny)
    expected = [tr for p in packets for tr in ref.push(p.copy())] + ref.flush()
    sd = StreamingDenoiser(tiny, load_model=False)
    staged = [sd.stage(p.copy()) for p in packets] + [sd.stage_flush()]  # everything framed before any model call
    outputs = [sd.run_model(steps) for steps in staged]
    got = [tr for steps, y in zip(staged, outputs) for tr in sd.complete(steps, y)]
    assert len(got) == len(expected) > 4
    assert _joined(got) == _joined(expected)  # the same samples, bit for bit


def _gappy_file(path):
    rng = np.random.default_rng(5)
    st = obspy.Stream()
    for cha, offset in (("HHE", 0.0), ("HHN", 0.0), ("HHZ", 0.0)):
        x = (rng.normal(size=9000) * 300 + 0.2 * np.arange(9000)).astype(np.float32)
        for a, b, gap in ((0, 4000, 0.0), (4000, 9000, 7.5)):
            st.append(obspy.Trace(x[a:b], dict(network="XX", station="P", channel=cha, sampling_rate=100.0,
                                                starttime=T0 + a / 100.0 + gap + offset)))
    st.write(path, format="MSEED", reclen=512, encoding="FLOAT32")
    return path


@pytest.mark.parametrize("ahead", [1, 3, 50])
def test_pipelined_pieces_give_the_bits_of_one_piece_at_a_time(tiny, tmp_path, monkeypatch, ahead):
    path = _gappy_file(str(tmp_path / "in.mseed"))
    monkeypatch.setattr(pieces, "PIECE_BYTES", 4096)  # many pieces
    options = DenoiseOptions(precision="float32")
    seq = pieces.denoise_mseed_in_pieces(path, str(tmp_path / "seq" / "o.mseed"), tiny, options, ahead=0)
    par = pieces.denoise_mseed_in_pieces(path, str(tmp_path / "par" / "o.mseed"), tiny, options, ahead=ahead)
    assert (tmp_path / "seq" / "o.mseed").read_bytes() == (tmp_path / "par" / "o.mseed").read_bytes()
    assert (tmp_path / "seq" / "o.mseed.processing.json").read_text() == \
           (tmp_path / "par" / "o.mseed.processing.json").read_text()
    assert {k: v for k, v in seq.items() if k != "stages"} == {k: v for k, v in par.items() if k != "stages"}
    assert seq["windows"] > 20 and seq["traces"] == 3


def _broken(model_file, tmp_path):
    """A .keras file whose config.json is a denoiser's (read without Keras: the model loads lazily) and whose
    weights are not weights: it fails only when loaded."""
    broken = tmp_path / "broken.keras"
    with zipfile.ZipFile(model_file) as src, zipfile.ZipFile(broken, "w") as dst:
        for item in src.infolist():
            dst.writestr(item, b"not hdf5" if item.filename.endswith(".h5") else src.read(item))
    return str(broken)


@pytest.mark.parametrize("piecewise", [False, True])
def test_a_model_that_fails_in_the_background_is_reported_as_before(model_file, tmp_path, monkeypatch, capsys,
                                                                     piecewise):
    broken = _broken(model_file, tmp_path)
    with pytest.raises(ModelError) as loading:  # what loading it before any work said
        _load_bytes(open(broken, "rb").read(), path="broken.keras")
    src = _gappy_file(str(tmp_path / "in.mseed"))
    monkeypatch.setattr(pieces, "MIN_BYTES", 0 if piecewise else 2 ** 62)
    monkeypatch.setattr(pieces, "PIECE_BYTES", 4096)
    out = tmp_path / "out"
    rc = cli.main(["denoise", src, "-o", str(out), "--model", broken, "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1
    assert err.strip().splitlines() == [f"geokeras denoise: error: {loading.value} (--debug shows the traceback)"]
    assert list(out.iterdir()) == []  # nothing written, no temporary file, no folder


def test_load_in_background_waits_and_raises_in_the_other_threads(model_file, tmp_path):
    den = Denoiser.resolve(_broken(model_file, tmp_path))
    calls = []
    assert den.load_in_background(prepare=lambda: calls.append(1)) is den
    with pytest.raises(ModelError, match="cannot load the model"):
        den.wait_loaded()
    with pytest.raises(ModelError, match="cannot load the model"):
        den.predictor(8, "float32")  # any use of the model
    assert calls == [1]
    good = Denoiser.resolve(model_file).load_in_background()
    assert good.wait_loaded().model is good.model and good.predictor(8, "float32")(np.zeros((2, 64))).shape == (2, 64)


def test_warnings_of_the_background_load_are_not_the_files_notes():
    import threading
    import warnings

    from geokeras.denoise.denoiser import LOADER_THREAD
    from geokeras.denoise.files import _recorder

    caught, shown = [], []
    record = _recorder(caught, lambda message, *rest: shown.append(str(message)))
    thread = threading.Thread(target=record, args=(UserWarning("from the load"), UserWarning, "f.py", 1),
                              name=LOADER_THREAD)
    thread.start()
    thread.join()
    record(UserWarning("from the file"), UserWarning, "g.py", 2)
    assert shown == ["from the load"]
    assert [str(w.message) for w in caught] == ["from the file"] and isinstance(caught[0], warnings.WarningMessage)


def _gappy_stream():
    rng = np.random.default_rng(11)
    st = obspy.Stream()
    for cha, rate in (("HHZ", 100.0), ("HHN", 100.0), ("HHE", 40.0)):
        n = 6000 if rate == 100.0 else 2400
        x = rng.normal(size=n) * 50 + 0.1 * np.arange(n)
        x = np.ma.masked_array(x, mask=(np.arange(n) >= n // 3) & (np.arange(n) < n // 3 + 250))  # a gap
        st.append(obspy.Trace(x, dict(network="XX", station="G", channel=cha, sampling_rate=rate, starttime=T0)))
    return st


def test_windows_sent_to_the_model_while_the_next_are_framed_give_the_bits_of_one_call(monkeypatch):
    from geokeras.data import process

    def fn(windows):  # each window on its own: any batching gives the same bits
        return np.tanh(windows / 3.0) * windows[:, :1]

    calls = []

    def counted(windows):
        calls.append(len(windows))
        return fn(windows)

    kwargs = dict(window_length=256, sampling_rate=100.0, batch_size=8, detrend=True, clip=1.1, chunk_samples=1000)
    one = process.apply_to_stream(_gappy_stream(), fn, **dict(kwargs, batch_size=4096))
    monkeypatch.setattr(process, "PENDING_SAMPLES", 256 * 10)  # a flush every 10 windows: many in the model's thread
    many = process.apply_to_stream(_gappy_stream(), counted, **kwargs)
    assert len(calls) > 10
    assert [(tr.id, tr.data.tobytes(), np.ma.getmaskarray(tr.data).tobytes()) for tr in many] == \
           [(tr.id, tr.data.tobytes(), np.ma.getmaskarray(tr.data).tobytes()) for tr in one]


def _failing_at(k):
    """A model stand-in that returns its windows and raises at its ``k``-th call; and the list of its calls."""
    calls = []

    def failing(windows):
        calls.append(1)
        if len(calls) == k:
            raise RuntimeError("the model failed")
        return windows

    return failing, calls


def test_an_error_of_the_model_in_its_thread_is_raised_and_the_thread_ends(monkeypatch):
    import threading

    from geokeras.data import process

    failing, calls = _failing_at(3)
    monkeypatch.setattr(process, "PENDING_SAMPLES", 256 * 10)
    with pytest.raises(RuntimeError, match="the model failed"):
        process.apply_to_stream(_gappy_stream(), failing, window_length=256, sampling_rate=100.0, batch_size=8,
                                chunk_samples=1000)
    assert not [t for t in threading.enumerate() if t.name.startswith("geokeras-model")]


def test_pyplot_on_first_use_gives_a_stand_in_then_the_real_module():
    import subprocess
    import sys

    code = """
import sys
from geokeras import utils
with utils.pyplot_on_first_use():
    import matplotlib.pyplot as plt
    assert isinstance(plt, utils._PyplotStandIn)
assert "matplotlib.pyplot" not in sys.modules  # the next import is the real one
assert callable(plt.figure)  # the first use imports it
import matplotlib.pyplot as real
assert not isinstance(real, utils._PyplotStandIn) and plt.figure is real.figure
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert done.stdout.strip() == "ok", done.stderr


def test_the_program_ends_at_once_after_denoise_with_its_outputs_lines_and_status(model_file, tmp_path):
    """``python -m geokeras denoise`` skips the interpreter's teardown (`geokeras.cli.console`): the outputs are
    whole, stdout and stderr complete (a pipe: block-buffered), the exit status the command's."""
    import subprocess
    import sys

    src = str(tmp_path / "rec.mseed")
    obspy.read().write(src, format="MSEED")
    bad = tmp_path / "bad.mseed"
    bad.write_bytes(b"not a waveform" * 50)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "geokeras", "denoise", src, str(bad), "-o", str(out), "--model", model_file]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines()[-1].startswith("denoised 1 of 2 file(s)")
    assert done.stderr.startswith("geokeras denoise: error: ") and "bad.mseed" in done.stderr
    assert len(obspy.read(str(out / "rec.mseed"))) == 3


def _large_sizes(predictor):
    return {size for size, large in predictor._runs if large}


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_a_batch_padded_to_a_size_run_before_gives_the_bits_of_its_own_graph(tiny, precision):
    rng = np.random.default_rng(2)
    fresh = tiny.predictor(255, precision)  # its own cache: static graphs for small batches, sizes of their own
    reusing = tiny.predictor(254, precision)
    big, small, odd = (rng.normal(size=(k, 64)).astype(np.float32) for k in (96, 44, 70))
    reusing(big)  # a large batch: size 96 run
    assert np.array_equal(reusing(small), fresh(small))  # 44 windows padded to 96, not a new graph of 64
    assert np.array_equal(reusing(odd), fresh(odd))  # 70 windows: 96 again, not a new size 80
    assert _large_sizes(reusing) == {96} and 64 not in reusing._graphs
    assert np.array_equal(reusing(big), fresh(big))
    assert np.array_equal(reusing(small), fresh(small)) and 64 in reusing._graphs  # it came again: its own graph
    assert np.array_equal(reusing(odd), fresh(odd)) and _large_sizes(reusing) == {80, 96}
    tiny_batch = rng.normal(size=(3, 64)).astype(np.float32)
    assert np.array_equal(reusing(tiny_batch), fresh(tiny_batch)) and 4 in reusing._graphs  # never padded to 80


class _Gauge:
    """A batch function that records how many of its calls ran at once (each call sleeps a little, the later
    batches less, so that with several calls at once they finish out of order)."""

    def __init__(self, in_flight=None):
        import threading

        self.lock, self.now, self.most, self.calls = threading.Lock(), 0, 0, 0
        if in_flight is not None:
            self.in_flight = in_flight

    def __call__(self, windows):
        import time

        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
            self.calls += 1
            k = self.calls
        time.sleep(0.02 / k)
        with self.lock:
            self.now -= 1
        return np.tanh(windows / 3.0) * windows[:, :1]


@pytest.mark.parametrize("in_flight", [1, 2, 3])
def test_map_batches_with_calls_in_flight_gives_the_outputs_and_progress_of_one_at_a_time(in_flight):
    from geokeras.data.windows import map_batches

    x = np.random.default_rng(0).normal(size=(37, 16)).astype("float32")
    seen = []
    gauge = _Gauge()
    got = map_batches(gauge, x, batch_size=4, in_flight=in_flight, progress=lambda d, t: seen.append((d, t)))
    assert got.tobytes() == map_batches(_Gauge(), x, batch_size=4).tobytes()
    assert seen == [(min(i + 4, 37), 37) for i in range(0, 37, 4)]  # in order, in the calling thread
    assert gauge.most == in_flight and gauge.calls == 10


def test_map_batches_reads_in_flight_from_the_function_and_checks_it():
    from geokeras.data.windows import map_batches

    x = np.ones((40, 8), "float32")
    gauge = _Gauge(in_flight=2)
    map_batches(gauge, x, batch_size=4)
    assert gauge.most == 2
    gauge = _Gauge(in_flight=2)
    map_batches(gauge, x, batch_size=4, in_flight=1)  # the argument wins
    assert gauge.most == 1
    with pytest.raises(ValueError, match=r"`in_flight`.*Received in_flight=0"):
        map_batches(_Gauge(), x, in_flight=0)


def test_map_batches_raises_the_error_of_a_call_in_another_thread_and_stops():
    import threading

    from geokeras.data.windows import map_batches

    failing, calls = _failing_at(2)
    with pytest.raises(RuntimeError, match="the model failed"):
        map_batches(failing, np.ones((400, 8), "float32"), batch_size=4, in_flight=2)
    assert len(calls) < 100  # the batches not started were dropped
    assert not [t for t in threading.enumerate() if t.name.startswith("geokeras-batch")]
    with pytest.raises(ValueError, match="Expected finite values"):
        map_batches(lambda b: b * np.nan, np.ones((12, 8), "float32"), batch_size=4, in_flight=2)


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_the_shipped_model_with_two_calls_in_flight_gives_the_bits_of_one(precision):
    from geokeras.data.windows import map_batches
    from geokeras.denoise.denoiser import calls_in_flight

    den = Denoiser.resolve(None)
    fn = den.predictor(32, precision)
    assert fn.in_flight == calls_in_flight() in (1, 2)
    x = np.random.default_rng(1).normal(size=(6 * 32 + 5, den.window_length)).astype("float32")
    one = map_batches(fn, x, 32, in_flight=1)
    assert map_batches(fn, x, 32, in_flight=2).tobytes() == one.tobytes()


@pytest.mark.parametrize("in_flight", [1, 2])
def test_pieces_in_the_model_at_once_are_at_most_in_flight_and_give_the_same_bits(tiny, tmp_path, monkeypatch,
                                                                                   in_flight):
    path = _gappy_file(str(tmp_path / "in.mseed"))
    monkeypatch.setattr(pieces, "PIECE_BYTES", 4096)  # many pieces
    options = DenoiseOptions(precision="float32")
    seq = pieces.denoise_mseed_in_pieces(path, str(tmp_path / "seq" / "o.mseed"), tiny, options, ahead=0)
    import threading
    import time

    real, lock, now, most, calls = StreamingDenoiser.run_model, threading.Lock(), [0], [0], [0]

    def gauged(self, steps, in_flight=None):  # counts the pieces in the model at once
        with lock:
            now[0] += 1
            most[0], calls[0] = max(most[0], now[0]), calls[0] + 1
        try:
            time.sleep(0.005)
            return real(self, steps, in_flight)
        finally:
            with lock:
                now[0] -= 1

    monkeypatch.setattr(StreamingDenoiser, "run_model", gauged)
    monkeypatch.setattr(pieces._Pipeline.__init__, "__defaults__", (pieces.AHEAD, in_flight))
    pieces.denoise_mseed_in_pieces(path, str(tmp_path / "par" / "o.mseed"), tiny, options)
    assert (tmp_path / "seq" / "o.mseed").read_bytes() == (tmp_path / "par" / "o.mseed").read_bytes()
    assert most[0] == in_flight and calls[0] > 10


def test_calls_in_flight_follow_tensorflows_threads(monkeypatch):
    import tensorflow as tf

    from geokeras.denoise.denoiser import calls_in_flight

    monkeypatch.setattr(tf.config.threading, "get_intra_op_parallelism_threads", lambda: 1)
    assert calls_in_flight() == 1  # a single-threaded worker stays on one core
    monkeypatch.setattr(tf.config.threading, "get_intra_op_parallelism_threads", lambda: 0)  # TensorFlow's default
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "1")
    assert calls_in_flight() == 1
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "4")
    assert calls_in_flight() == 2
