"""Windowing and stitching: identity-exact for every length, smooth cross-fade, property-based checks."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geokeras.data.windows import apply_windowed, crossfade_weights, sliding_windows, stitch, window_starts


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 400), L=st.integers(1, 64), overlap=st.floats(0.0, 0.9), seed=st.integers(0, 2 ** 16))
def test_identity_round_trip_any_length(n, L, overlap, seed):
    x = np.random.default_rng(seed).standard_normal(n).astype(np.float32) * 1e3
    w, starts = sliding_windows(x, L, overlap)
    assert w.shape == (len(starts), L) and w.dtype == np.float32
    assert starts[0] == 0 and (n <= L or starts[-1] == n - L)
    y = stitch(w, starts, n)
    assert y.shape == (n,) and y.dtype == np.float32
    np.testing.assert_allclose(y, x, rtol=1e-6, atol=1e-6 * np.abs(x).max())
    np.testing.assert_allclose(apply_windowed(x, lambda b: b, L, overlap, batch_size=3), x,
                               rtol=1e-6, atol=1e-6 * np.abs(x).max())


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 300), L=st.integers(2, 50), overlap=st.floats(0.0, 0.9))
def test_windows_cover_every_sample_and_match_input(n, L, overlap):
    x = np.arange(n, dtype=np.float64)
    w, starts = sliding_windows(x, L, overlap)
    covered = np.zeros(n, bool)
    for row, s in zip(w, starts):
        m = min(L, n - s)
        np.testing.assert_array_equal(row[:m], x[s:s + m])
        assert np.all(row[m:] == 0)  # zero padding only for short traces
        covered[s:s + m] = True
    assert covered.all()
    assert np.all(np.diff(starts) > 0)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(2, 300), L=st.integers(4, 40), c=st.floats(-5, 5))
def test_linear_fn_commutes_with_stitching(n, L, c):
    x = np.sin(np.arange(n) / 3.0).astype(np.float32)
    np.testing.assert_allclose(apply_windowed(x, lambda b: c * b + 1.0, L), c * x + 1.0, atol=1e-5)


def test_crossfade_is_smooth_between_windows():
    # each window returns a constant (its index): the stitched output must ramp, not jump
    x = np.zeros(1000, np.float32)
    counter = iter(range(100))
    y = apply_windowed(x, lambda b: np.stack([np.full(b.shape[1], next(counter)) for _ in b]).astype(np.float32),
                       200, overlap=0.5, batch_size=1)
    assert y[0] == 0 and y[-1] == 8 and np.max(np.abs(np.diff(y))) < 0.05
    w = crossfade_weights(10)
    assert np.all(w > 0) and np.allclose(w, w[::-1])


def test_short_trace_and_single_sample():
    x = np.array([3.0], np.float32)
    w, s = sliding_windows(x, 8)
    assert w.shape == (1, 8) and w[0, 0] == 3 and np.all(w[0, 1:] == 0)
    np.testing.assert_array_equal(apply_windowed(x, lambda b: b, 8), x)
    w, s = sliding_windows(np.arange(5.0), 8, pad_mode="reflect")
    assert w[0].tolist() == [0, 1, 2, 3, 4, 3, 2, 1]
    assert window_starts(10, 4, 0.0).tolist() == [0, 4, 6]


@pytest.mark.parametrize("call, match", [
    (lambda: sliding_windows(np.zeros(0), 4), "non-empty"),
    (lambda: sliding_windows(np.zeros((2, 2)), 4), "1-D"),
    (lambda: sliding_windows(np.zeros(5), 0), "window_length"),
    (lambda: sliding_windows(np.zeros(5), 2, overlap=1.0), "overlap"),
    (lambda: stitch(np.zeros((2, 4)), [0], 6), "windows"),
    (lambda: stitch(np.zeros((1, 4)), [0], 6), "uncovered"),
    (lambda: apply_windowed(np.zeros(10), lambda b: b[:, :2], 4), "shape"),
    (lambda: apply_windowed(np.ones(10), lambda b: b * np.nan, 4), "finite"),
    (lambda: apply_windowed(np.ones(10), lambda b: b, 4, batch_size=0), "batch_size"),
])
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_fn_with_trailing_channel_axis_and_progress():
    seen = []
    y = apply_windowed(np.ones(50), lambda b: b[..., None] * 2, 10, batch_size=4,
                       progress=lambda done, total: seen.append((done, total)))
    np.testing.assert_allclose(y, 2.0)
    n = len(window_starts(50, 10, 0.5))
    assert seen == [(min(k, n), n) for k in range(4, n + 4, 4)]


def _stitch_one_by_one(windows, starts, n):
    """The reference overlap-add: every window added in order (what `stitch` must equal bit for bit)."""
    L = windows.shape[1]
    w = crossfade_weights(L)
    acc, norm = np.zeros(n + L), np.zeros(n + L)
    for win, s in zip(windows, starts):
        acc[s:s + L] += w * win
        norm[s:s + L] += w
    return (acc[:n] / norm[:n]).astype(windows.dtype)


@pytest.mark.parametrize("overlap", [0.0, 0.25, 0.5, 0.6, 0.75])
@pytest.mark.parametrize("n", [7, 40, 41, 333])
def test_stitch_is_the_ordered_overlap_add_bit_for_bit(overlap, n):
    rng = np.random.default_rng(n)
    x = rng.normal(size=n).astype(np.float32)
    windows, starts = sliding_windows(x, 10, overlap)
    y = (rng.normal(size=windows.shape) * 1e3).astype(np.float32)
    y[rng.random(y.shape) < 0.1] = -0.0
    got, want = stitch(y, starts, n), _stitch_one_by_one(y, starts, n)
    assert got.view(np.uint32).tolist() == want.view(np.uint32).tolist()
    cut = n - 3 if n > 10 else n  # windows past the output's end (dropped)
    assert np.array_equal(stitch(y, starts, cut).view(np.uint32), _stitch_one_by_one(y, starts, cut).view(np.uint32))


@pytest.mark.parametrize("overlap", [0.5, 0.75])
def test_overlap_add_of_traces_framed_alike_is_stitch_of_each_in_batches(overlap):
    from geokeras.data.windows import overlap_add

    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 1000))
    rows = [sliding_windows(row, 128, overlap) for row in x]
    starts = rows[0][1]
    windows = np.stack([w for w, _ in rows], axis=-1)  # (k, L, 2)
    acc, norm = np.zeros((1000 + 128, 2)), np.zeros(1000 + 128)
    for i in range(0, len(starts), 7):  # in batches, as a bounded-memory caller adds them
        overlap_add(acc, norm, windows[i:i + 7], starts[i:i + 7], crossfade_weights(128))
    for c in range(2):
        np.testing.assert_array_equal(acc[:1000, c] / norm[:1000], stitch(rows[c][0], starts, 1000))
