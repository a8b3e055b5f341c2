"""train --strategy mirrored: two replicas (logical CPU devices) follow the one-device loss curve."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

from geokeras.training.strategies import make_strategy

# Logical devices must be configured before TensorFlow initializes: the runs happen in a fresh process.
SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import geokeras.training.strategies as strategies
    from geokeras.training import train_denoiser

    replicas = []
    make = strategies.make_strategy
    def recording(*args, **kwargs):
        s = make(*args, **kwargs)
        replicas.append(1 if s is None else s.num_replicas_in_sync)
        return s
    strategies.make_strategy = recording

    rng = np.random.default_rng(0)
    t = np.arange(600) / 50.0
    signals = [np.sin(2 * np.pi * f * t) * np.exp(-t / 3.0) for f in (2.0, 4.0, 6.0)]
    noises = [rng.standard_normal(900) for _ in range(3)]
    kw = dict(window_length=128, sampling_rate=50.0, epochs=3, steps_per_epoch=3, batch_size=8, validation=False,
              n_synthetic=0, verbose=0, family="unet1d", model_kwargs={"filters": (4, 8)}, jit_compile=False,
              learning_rate=1e-2)
    one = train_denoiser(signals, noises, sys.argv[1] + "/one.keras", **kw)[1]["loss"]
    two = train_denoiser(signals, noises, sys.argv[1] + "/two.keras", strategy="mirrored",
                         devices=["/cpu:0", "/cpu:1"], **kw)[1]["loss"]
    print(json.dumps(dict(one=one, two=two, replicas=replicas)))
""")


@pytest.mark.slow
def test_mirrored_on_two_devices_follows_the_one_device_loss_curve(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in [os.getcwd(), os.environ.get("PYTHONPATH")] if p))
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True, env=env,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["replicas"] == [1, 2]
    one, two = out["one"], out["two"]
    assert len(one) == len(two) == 3 and abs(one[-1] - one[0]) > 1e-3  # the weights moved
    # Same global batch (8 = 2 x 4), same pairs, gradients summed over replicas: equal to float32 rounding.
    assert two == pytest.approx(one, rel=1e-4)


def test_make_strategy_checks_its_arguments():
    assert make_strategy(None) is None
    with pytest.raises(ValueError, match=r"argument `strategy`. Expected one of None, 'mirrored'. Received "
                                         r"strategy='Mirrored'"):
        make_strategy("Mirrored")
    with pytest.raises(ValueError, match=r"argument `devices`. Expected None without a strategy"):
        make_strategy(None, devices=["/cpu:0"])


WORKER = textwrap.dedent("""
    import json, os, sys
    index, ports = int(sys.argv[1]), [p for p in sys.argv[2].split(",") if p]
    if ports:
        os.environ["TF_CONFIG"] = json.dumps({"cluster": {"worker": [f"localhost:{p}" for p in ports]},
                                              "task": {"type": "worker", "index": index}})
    import numpy as np, tensorflow as tf, keras
    from geokeras.models.denoiser import build_denoiser
    from geokeras.training.strategies import distributed_fit

    strategy = tf.distribute.MultiWorkerMirroredStrategy() if ports else tf.distribute.get_strategy()
    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = build_denoiser("unet1d", window_length=128, sampling_rate=50.0, filters=(4, 8))
        optimizer = keras.optimizers.Adam(1e-2)
        optimizer.build(model.trainable_variables)
    x = np.random.default_rng(0).normal(size=(64, 128, 1)).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices((x, 0.5 * x)).batch(8).repeat()
    history = distributed_fit(model, optimizer, ds, strategy, epochs=2, steps_per_epoch=3, global_batch_size=8)
    print(json.dumps(dict(loss=history["loss"], replicas=strategy.num_replicas_in_sync,
                          weights=[float(np.sum(w)) for w in model.get_weights()])))
""")


def _free_ports(n):
    import socket

    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.slow
def test_distributed_fit_on_two_worker_processes_follows_the_one_process_curve():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in [os.getcwd(), os.environ.get("PYTHONPATH")] if p))
    ports = ",".join(map(str, _free_ports(2)))
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(i), ports], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for i in range(2)]
    single = subprocess.run([sys.executable, "-c", WORKER, "0", ""], capture_output=True, text=True, env=env,
                            timeout=300)
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert single.returncode == 0, single.stderr[-3000:]
    one = json.loads(single.stdout.strip().splitlines()[-1])
    assert [r["replicas"] for r in results] == [2, 2] and one["replicas"] == 1
    assert one["loss"][1] < one["loss"][0]  # it trains
    for r in results:  # both workers hold the same weights, on the one-process curve
        assert r["loss"] == pytest.approx(one["loss"], rel=1e-4)
        assert r["weights"] == pytest.approx(one["weights"], rel=1e-4, abs=1e-4)
