"""Metrics: SNR, SNR gain, correlation, peak ratio, arrival-time shift (ObsPy pickers); scalars and batches."""
import numpy as np
import pytest

from geokeras import metrics
from geokeras.data import synthetic


def test_snr_definition_and_batches():
    s = np.array([[3.0, 4.0], [1.0, 0.0]])
    n = np.array([[0.3, 0.4], [0.0, 1.0]])
    np.testing.assert_allclose(metrics.snr_db(s, n), [20.0, 0.0])
    assert isinstance(metrics.snr_db(s[0], n[0]), float)
    assert metrics.snr_db([1.0], [0.0]) == np.inf and metrics.snr_db([0.0], [1.0]) == -np.inf
    with pytest.raises(ValueError) as err:
        metrics.snr_db(np.ones(3), np.ones(4))
    assert str(err.value) == ("Invalid shapes for arguments `signal` and `noise`. Expected equal shapes. "
                              "Received signal.shape=(3,) and noise.shape=(4,).")
    with pytest.raises(ValueError) as err:
        metrics.snr_db(np.ones(0), np.ones(0))
    assert str(err.value) == ("Invalid value for argument `signal`. Expected at least one sample on the last axis. "
                              "Received shape (0,).")


def test_snr_gain():
    rng = np.random.default_rng(0)
    clean = rng.standard_normal((4, 100))
    noise = rng.standard_normal((4, 100))
    gain = metrics.snr_gain_db(clean, clean + noise, clean + 0.5 * noise)
    np.testing.assert_allclose(gain, 20 * np.log10(2.0))
    assert metrics.snr_gain_db(clean[0], clean[0] + noise[0], clean[0] + noise[0]) == 0.0


def test_correlation_and_peak_ratio():
    x = np.sin(np.arange(50) / 3.0)
    assert metrics.correlation(x, -2 * x + 1) == pytest.approx(-1.0)
    assert np.isnan(metrics.correlation(x, np.ones(50)))
    np.testing.assert_allclose(metrics.correlation(np.stack([x, x]), np.stack([x, x ** 2])),
                               [1.0, np.corrcoef(x, x ** 2)[0, 1]])
    assert metrics.peak_amplitude_ratio(x, 0.5 * x) == pytest.approx(0.5)
    np.testing.assert_allclose(metrics.peak_amplitude_ratio(np.stack([x, x]), np.stack([x, 3 * x])), [1.0, 3.0])


@pytest.mark.parametrize("picker", ["sta_lta", "pk_baer"])
def test_arrival_time_shift_on_synthetic_events(picker):
    x, (p, _) = synthetic.synthetic_seismogram(3000, 100.0, n=3, seed=4, return_arrivals=True, p_range=(10, 12))
    x = x + 0.01 * synthetic.noise("white", 3000, n=3, seed=1)
    picks = [metrics.pick_p(row, 100.0, picker) for row in x]
    assert all(abs(pk - pi / 100.0) < 0.5 for pk, pi in zip(picks, p)), (picks, p)
    shifted = np.roll(x, 30, axis=1)
    d = metrics.arrival_time_shift(x, shifted, 100.0, picker=picker)
    assert d.shape == (3,)
    np.testing.assert_allclose(d, 0.3, atol=0.03)
    assert metrics.arrival_time_shift(x[0], x[0], 100.0, picker=picker) == 0.0


def test_no_pick_is_nan_and_bad_picker():
    quiet = np.zeros(2000)
    assert np.isnan(metrics.arrival_time_shift(quiet, quiet, 100.0))
    with pytest.raises(ValueError) as err:
        metrics.pick_p(np.ones(2000), 100.0, picker="aic")
    assert str(err.value) == ("Invalid value for argument `picker`. Expected 'sta_lta' or 'pk_baer'. "
                              "Received picker='aic'.")
    with pytest.raises(ValueError) as err:
        metrics.pick_p(np.r_[np.nan, np.ones(10)], 100.0)
    assert str(err.value) == "Invalid value for argument `x`. Expected finite samples. Received NaN or inf."
