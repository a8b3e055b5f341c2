"""Train-step time of the contractive autoencoder relative to the plain autoencoder.

Run by hand (not a test)::

    .venv/bin/python bench/bench_contractive.py                 # defaults of the issue
    .venv/bin/python bench/bench_contractive.py --steps 20 --rounds 3 --jit both

Setup: dense autoencoder input 3000 -> 256 (sigmoid) -> 3000 (linear), MSE, Adam, batch 64,
TensorFlow limited to ``--threads`` intra-op threads (2 by default). Every model is compiled by
Keras (``tf.function``; optionally ``jit_compile=True``, XLA) and timed with
``train_on_batch`` on the same device-resident batch. Timing rounds alternate between the
models so that load changes on a shared machine hit all of them alike; after ``--warmup``
untimed steps per model, each round times ``--steps`` steps per model. The table reports the
median step time over all timed steps (wall clock, and process CPU time, which is less
sensitive to other processes on a shared machine) and its ratio to the plain autoencoder with
the same ``jit_compile`` setting. The exact mode (a per-sample 256 x 3000 Jacobian) is much slower and
is timed with ``--exact-steps`` steps per round. ``"stochastic"`` (reverse-mode vector-Jacobian
product) and ``"forward"`` (forward-mode Jacobian-vector product) are the two unbiased
random-projection estimates. The load average (``os.getloadavg``, as ``uptime`` prints it) is
printed before and after the timing, so that every figure can be quoted with the load it was
measured under.
"""
import argparse
import os
import statistics
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--input-dim", type=int, default=3000)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=30, help="timed steps per model per round")
    p.add_argument("--exact-steps", type=int, default=2, help="timed steps per round for the exact mode")
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--jit", choices=["off", "on", "both"], default="both")
    p.add_argument("--no-exact", action="store_true", help="skip the (slow) exact mode")
    return p.parse_args()


def main():
    args = parse_args()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras
    import numpy as np

    from geokeras.models import build_contractive_autoencoder, build_dense_autoencoder

    keras.utils.set_random_seed(0)
    x = tf.constant(np.random.default_rng(0).normal(size=(args.batch, args.input_dim)).astype("float32"))
    jits = {"off": [False], "on": [True], "both": [False, True]}[args.jit]
    modes = ["closed_form", "stochastic", "forward", "forward_shared"] + ([] if args.no_exact else ["exact"])

    models = {}
    for jit in jits:
        plain = build_dense_autoencoder(args.input_dim, hidden_units=(args.hidden,))
        plain.compile(keras.optimizers.Adam(1e-3), "mse", jit_compile=jit)
        models[("plain", jit)] = plain
        for mode in modes:
            if mode in ("exact", "forward", "forward_shared") and jit:
                # XLA constant-folds exact's 256-way pfor Jacobian for minutes, and made forward's step 250-320x
                # slower (issue 11's runs); geokeras leaves XLA off for forward: both are timed without XLA
                continue
            cae = build_contractive_autoencoder(
                args.input_dim, hidden_units=(args.hidden,), penalty=mode, weight=0.1, seed=0
            )
            cae.compile(keras.optimizers.Adam(1e-3), "mse", jit_compile=jit)
            models[(mode, jit)] = cae

    def steps_for(key):
        return args.exact_steps if key[0] == "exact" else args.steps

    for key, model in models.items():
        for _ in range(args.warmup if key[0] != "exact" else 1):
            model.train_on_batch(x, x)

    load_before = os.getloadavg()
    times = {key: [] for key in models}
    cpu = {key: [] for key in models}
    for _ in range(args.rounds):
        for key, model in models.items():
            for _ in range(steps_for(key)):
                t0, c0 = time.perf_counter(), time.process_time()
                model.train_on_batch(x, x)
                times[key].append(time.perf_counter() - t0)
                cpu[key].append(time.process_time() - c0)

    load_after = os.getloadavg()
    print(
        f"contractive vs plain train step: input {args.input_dim}, hidden {args.hidden}, batch {args.batch}, "
        f"{args.threads} intra-op threads, {args.rounds} alternating rounds"
    )
    print("load average (1, 5, 15 min) before timing: " + ", ".join(f"{v:.2f}" for v in load_before)
          + "; after: " + ", ".join(f"{v:.2f}" for v in load_after) + f"; {os.cpu_count()} CPUs")
    print(f"{'model':<14}{'jit_compile':>12}{'steps':>8}{'median ms':>12}{'vs plain':>10}"
          f"{'cpu ms':>10}{'cpu vs plain':>14}")
    for jit in jits:
        base = statistics.median(times[("plain", jit)])
        cbase = statistics.median(cpu[("plain", jit)])
        for name in ["plain"] + modes:
            if (name, jit) not in times:
                continue
            t = times[(name, jit)]
            med = statistics.median(t)
            cmed = statistics.median(cpu[(name, jit)])
            print(f"{name:<14}{str(jit):>12}{len(t):>8}{1e3 * med:>12.2f}{med / base:>9.2f}x"
                  f"{1e3 * cmed:>10.2f}{cmed / cbase:>13.2f}x")


if __name__ == "__main__":
    main()
