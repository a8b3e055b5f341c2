"""Synthetic generators: lecture families, Ricker, seismograms, noise models."""
import numpy as np
import pytest
from scipy import signal as sps

from geokeras.data import synthetic


def test_damped_oscillations_formula_and_grid():
    x, p, t = synthetic.damped_oscillations(return_t=True)
    assert x.shape == (2500, 50) and p.shape == (2500, 2) and t.shape == (50,)
    assert p[:, 0].min() == 5 and p[:, 0].max() == 10 and p[:, 1].min() == 0 and p[:, 1].max() == 5
    assert t[0] == 0 and t[-1] == 10
    i = 777
    k, b = p[i].astype(np.float64)
    ref = np.exp(-b * t / 2) * np.cos(np.sqrt(k) * (1 - b ** 2 / (4 * k)) * t)
    np.testing.assert_allclose(x[i], ref, atol=1e-6)
    x2, p2 = synthetic.damped_oscillations(n_k=3, n_b=7, n_t=11)
    assert x2.shape == (21, 11) and len(np.unique(p2, axis=0)) == 21
    with pytest.raises(ValueError) as err:
        synthetic.damped_oscillations(n_t=0)
    assert str(err.value) == "Invalid value for argument `n_t`. Expected a strictly positive integer. Received n_t=0."


def test_lines():
    y, p, x = synthetic.lines(return_x=True)
    assert y.shape == (2500, 50) and x[0] == -10 and x[-1] == 10
    np.testing.assert_allclose(y, p[:, :1] * x + p[:, 1:], atol=1e-5)
    assert p[:, 0].min() == 0.5 and p[:, 0].max() == 1 and p[:, 1].min() == 5 and p[:, 1].max() == 10


def test_ricker_matches_old_scipy_formula():
    w = synthetic.ricker(100, 4.0)
    # old scipy.signal.ricker: A = 2/(sqrt(3a) pi^0.25), vec centred at (points-1)/2
    vec = np.arange(100) - 49.5
    ref = 2 / (np.sqrt(12.0) * np.pi ** 0.25) * (1 - vec ** 2 / 16) * np.exp(-vec ** 2 / 32)
    np.testing.assert_allclose(w, ref)
    with pytest.raises(ValueError) as err:
        synthetic.ricker(10, 0.0)
    assert str(err.value) == "Invalid value for argument `a`. Expected a positive width. Received a=0.0."


def test_seismogram_seeded_with_arrivals():
    x, (p, s) = synthetic.synthetic_seismogram(3000, 100.0, n=8, seed=1, return_arrivals=True)
    y = synthetic.synthetic_seismogram(3000, 100.0, n=8, seed=1)
    np.testing.assert_array_equal(x, y)
    assert x.dtype == np.float32 and np.allclose(np.abs(x).max(axis=1), 1.0)
    for row, pi, si in zip(x, p, s):
        assert np.all(row[:pi] == 0) and np.any(row[pi:pi + 50] != 0)
        assert 100 <= si - pi <= 1001
        # the S phase is the strongest and the coda decays
        assert np.abs(row[si:]).max() > np.abs(row[pi:si]).max()
        assert np.abs(row[-300:]).max() < np.abs(row[si:]).max()
    one = synthetic.synthetic_seismogram(500, 50.0, seed=0)
    assert one.shape == (500,)


@pytest.mark.parametrize("kind", ["white", "colored", "microseism"])
def test_noise_unit_std(kind):
    x = synthetic.noise(kind, 6000, 100.0, n=3, seed=0)
    assert x.shape == (3, 6000) and x.dtype == np.float32
    np.testing.assert_allclose(x.std(axis=1), 1.0, rtol=1e-4)
    np.testing.assert_allclose(x.mean(axis=1), 0.0, atol=1e-5)


def test_noise_spectra():
    f, pw = sps.welch(synthetic.noise("colored", 2 ** 15, 100.0, n=4, seed=0, alpha=2.0), fs=100.0, nperseg=1024)
    pw = pw.mean(axis=0)
    # brown noise: ~ -20 dB per decade between 1 and 10 Hz
    slope = 10 * np.log10(pw[np.argmin(abs(f - 10))] / pw[np.argmin(abs(f - 1))])
    assert -24 < slope < -16
    f, pm = sps.welch(synthetic.noise("microseism", 2 ** 16, 10.0, seed=0), fs=10.0, nperseg=4096)
    assert 0.1 <= f[np.argmax(pm)] <= 0.3
    with pytest.raises(ValueError) as err:
        synthetic.noise("pink")
    assert str(err.value) == ("Invalid value for argument `kind`. Expected 'white', 'colored' or 'microseism'. "
                              "Received kind='pink'.")
