"""The joint three-component network and its training pairs (issue 15, session 12: tried, not shipped)."""
import numpy as np
import pytest

from geokeras.data.component_pairs import ComponentPairGenerator, component_sources
from geokeras.errors import ModelError


def _sources(seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(900) / 100.0
    signals = [np.stack([np.sin(2 * np.pi * f * t) * np.exp(-t) * a for a in (0.5, 1.0, 2.0)]) for f in (3.0, 7.0)]
    noises = [rng.standard_normal((3, 1200)) for _ in range(3)]
    return dict(signals=signals, noises=noises, signal_groups=["A", "B"], noise_groups=["A", "B", "C"])


def test_pairs_hit_the_snr_over_all_components_and_keep_relative_amplitudes():
    gen = ComponentPairGenerator(**_sources(), window_length=500, snr_db=(-3.0, -3.0), shift=(0, 0))
    noisy, clean = gen.sample(6, np.random.default_rng(1))
    assert noisy.shape == clean.shape == (6, 500, 3) and noisy.dtype == np.float32
    noise = (noisy - clean).astype(np.float64)
    snr = 10 * np.log10((clean.astype(np.float64) ** 2).sum(axis=(1, 2)) / (noise ** 2).sum(axis=(1, 2)))
    np.testing.assert_allclose(snr, -3.0, atol=0.01)
    rms = np.sqrt((clean.astype(np.float64) ** 2).mean(axis=1))  # (6, 3): one factor for the three components
    np.testing.assert_allclose(rms / rms[:, 1:2], np.tile([0.5, 1.0, 2.0], (6, 1)), rtol=1e-5)
    np.testing.assert_allclose(np.sqrt((rms ** 2).mean(axis=1)), np.clip(np.sqrt((rms ** 2).mean(axis=1)), 0.5, 2.0))


def test_noise_never_from_the_signals_station_and_batches_reproducible():
    src = _sources()
    src["noises"] = [np.full((3, 1200), 0.0) + np.arange(1200) % 7 * k for k in (1.0, 2.0, 3.0)]  # marked by scale
    gen = ComponentPairGenerator(**src, window_length=400, snr_db=(0.0, 0.0), shift=(0, 0))
    for i in range(5):
        noisy, clean = gen.batch(i, 8)
        again, _ = gen.batch(i, 8)
        assert np.array_equal(noisy, again)
    rng = np.random.default_rng(3)
    for _ in range(40):  # the station of each draw: a signal of A never gets noise of A
        clean, i = gen._signal(rng, 0)
        noise = gen._noise(rng, 0, gen._signal_groups[i])
        scale = np.abs(noise).max() / 6.0
        assert gen._noise_groups[int(round(scale)) - 1] != gen._signal_groups[i]


def test_noise_only_pairs_stretch_and_inband():
    gen = ComponentPairGenerator(**_sources(), window_length=500, noise_only_fraction=1.0, amplitude=(1.0, 1.0))
    noisy, clean = gen.sample(4, np.random.default_rng(0))
    assert not clean.any()
    np.testing.assert_allclose(np.sqrt((noisy.astype(np.float64) ** 2).mean(axis=(1, 2))), 1.0, rtol=1e-5)
    stretched = ComponentPairGenerator(**_sources(), window_length=500, stretch=(0.6, 1.8), inband_fraction=1.0)
    assert len(stretched._signals) == 6 and len(stretched._signal_groups) == 6
    assert stretched._signal_groups[2:] == ["A", "A", "B", "B"]
    noisy, clean = stretched.sample(3, np.random.default_rng(0))
    assert np.isfinite(noisy).all() and clean.any()


def test_generator_refuses_bad_sources():
    src = _sources()
    with pytest.raises(ValueError, match="signal_groups"):
        ComponentPairGenerator(**{**src, "signal_groups": ["A"]}, window_length=500)
    with pytest.raises(ValueError, match="noise_groups"):
        ComponentPairGenerator(**{**src, "noises": src["noises"][:1], "noise_groups": ["A"]}, window_length=500)
    with pytest.raises(ValueError, match=r"noises\[0\] with shape \(2, 1200\)"):
        ComponentPairGenerator(**{**src, "noises": [np.zeros((2, 1200))] * 3}, window_length=500)
    with pytest.raises(ValueError, match="shift"):
        ComponentPairGenerator(**src, window_length=500, shift=(0, 500))


def test_component_sources_of_bundled_records():
    from geokeras.data import datasets

    records = datasets.load_events(stations=["BK.SAO"], sets=["ncedc-events"])
    out = component_sources(records)
    assert len(out["signals"]) == len(records) and set(out["signal_groups"]) == {"BK.SAO"}
    for s in out["signals"] + out["noises"]:
        assert s.ndim == 2 and s.shape[0] == 3
    vertical = [tr for tr in records[0].stream if tr.stats.channel.endswith("Z")][0]
    from geokeras.data.pairs import split_event

    np.testing.assert_array_equal(out["signals"][0][-1], split_event(vertical, records[0].p_time)[1][
        :out["signals"][0].shape[1]])
    assert component_sources(records, min_snr_db=1000.0)["signals"] == []


@pytest.fixture(scope="module")
def nets():
    from geokeras.models.components import build_joint_mask_denoiser, copy_mask_network
    from geokeras.models.denoiser import build_stft_mask_denoiser

    single = build_stft_mask_denoiser(window_length=600, sign_invariant=True, filters=(4, 8), mask_floor=0.3,
                                      frame_length=64, frame_step=32)
    joint = build_joint_mask_denoiser(window_length=600, filters=(4, 8), mask_floor=0.3)
    copied = copy_mask_network(single, joint)
    return single, joint, copied


def test_joint_warm_start_is_the_single_network_on_identical_components(nets):
    single, joint, copied = nets
    assert copied == ["enc0", "down1", "enc1", "up1", "dec0", "mask"]
    x = np.random.default_rng(0).normal(size=(2, 600, 1)).astype("float32")
    y = np.asarray(joint(np.repeat(x, 3, axis=-1)))
    expected = np.asarray(single(x))
    for c in range(3):
        np.testing.assert_allclose(y[..., c:c + 1], expected, atol=1e-5 * np.abs(expected).max())


def test_joint_network_odd_per_component_and_safe_loaded(nets, tmp_path):
    from geokeras.saving import load_model

    _, joint, _ = nets
    x = np.random.default_rng(1).normal(size=(2, 600, 3)).astype("float32")
    y = np.asarray(joint(x))
    flipped = np.asarray(joint(x * np.array([-1.0, 1.0, 1.0], "float32")))
    assert np.array_equal(flipped[..., 0], -y[..., 0]) and np.array_equal(flipped[..., 1:], y[..., 1:])
    joint.save(tmp_path / "joint.keras")
    np.testing.assert_array_equal(np.asarray(load_model(tmp_path / "joint.keras")(x)), y)


def test_copy_refuses_another_layout(nets):
    from geokeras.models.components import build_joint_mask_denoiser, copy_mask_network

    _, joint, _ = nets
    with pytest.raises(ValueError, match="layer .down1. with weights of shapes"):
        copy_mask_network(joint, build_joint_mask_denoiser(window_length=600, filters=(4, 6)))


def test_denoise_components_runs_a_joint_network_and_the_one_trace_path_refuses_it(nets):
    from geokeras.denoise import Denoiser, denoise, denoise_components

    single, joint, _ = nets
    trace = np.random.default_rng(2).normal(size=1700).astype("float32")
    y = denoise_components(np.stack([trace] * 3), model=joint)
    expected = denoise_components(np.stack([trace] * 3), model=single, statistic="own")
    np.testing.assert_allclose(y, expected, atol=1e-5 * np.abs(expected).max())
    with pytest.raises(ValueError, match="components"):
        denoise_components(np.stack([trace] * 2), model=joint)
    with pytest.raises(ModelError, match="denoise_components"):
        denoise(trace, model=Denoiser(joint), sampling_rate=100.0)


def test_a_joint_network_exports_with_serve_only(nets, tmp_path):
    import tensorflow as tf

    from geokeras.export import export_saved_model

    _, joint, _ = nets
    out = export_saved_model(joint, tmp_path / "sm")  # denoise_trace feeds one trace: not a joint network's input
    loaded = tf.saved_model.load(out)
    assert set(loaded.signatures) == {"serve", "serving_default"}
    x = np.random.default_rng(3).normal(size=(2, 600, 3)).astype("float32")
    np.testing.assert_allclose(loaded.serve(tf.constant(x)).numpy(), np.asarray(joint(x)), atol=1e-5)
