"""The tutorials: each runs end to end in fast mode, and each reads as a notebook with jupytext.

Every tutorial ends with assertions of its key result, so a run that exits 0 has checked it.
Fast mode (``GEOKERAS_FAST=1``) keeps each run to seconds; figures go to ``GEOKERAS_FIGURES``.
Each run is a process of its own, forked from one that has imported NumPy, Matplotlib and Keras (with TensorFlow)
once for the module (`_Server`).
"""
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import jupytext
import pytest

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"
SCRIPTS = sorted(TUTORIALS.glob("[0-9][0-9]_*.py"))


def test_all_thirteen_tutorials_are_present():
    assert [p.name[:2] for p in SCRIPTS] == [f"{i:02d}" for i in range(1, 14)]


def test_readme_lists_every_tutorial():
    readme = (TUTORIALS / "README.md").read_text()
    for script in SCRIPTS:
        assert script.name in readme, f"{script.name} is missing from tutorials/README.md"


# Each run is a process of its own, forked from a server process that has imported what every tutorial imports
# (importing TensorFlow takes 5 s on 2 cores, and there are 23 runs): the child starts from an interpreter in which
# TensorFlow has run no op and started no thread (importing it starts none; NumPy's OpenBLAS threads are fork-safe),
# takes the run's environment, folder, arguments and standard streams, and runs the script as __main__. Its uncaught
# exception (the traceback on stderr), its exit status and the interpreter's teardown are those of `python script.py`
# (every tutorial, fast and ablated, printed the same stdout and figures both ways, and failed on the same line).
SERVER = textwrap.dedent("""
    import json, os, sys

    # what every tutorial imports (Keras imports TensorFlow), nothing more: a module that a script uses without
    # importing it must fail here as it does in `python script.py`
    import numpy, matplotlib, keras

    print("READY", flush=True)
    while True:
        request = sys.stdin.readline()
        if not request:
            sys.exit(0)
        run = json.loads(request)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            break
        print("PID", pid, flush=True)
        print("STATUS", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)

    # the child
    os.environ.clear()
    os.environ.update(run["env"])
    os.chdir(run["cwd"])
    for fd, path, flags in ((0, os.devnull, os.O_RDONLY), (1, run["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                            (2, run["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)):
        opened = os.open(path, flags, 0o644)
        os.dup2(opened, fd)
        os.close(opened)
    sys.argv = [run["script"]]
    sys.path[0] = os.path.dirname(run["script"])  # as for `python script.py`
    import runpy

    runpy.run_path(run["script"], run_name="__main__")
""")


class _Server:
    def __init__(self, folder):
        self.folder, self.runs = folder, itertools.count()
        env = dict(os.environ, KERAS_BACKEND="tensorflow", MPLBACKEND="Agg", TF_CPP_MIN_LOG_LEVEL="3")
        self.stderr = open(folder / "server.stderr", "w")
        self.proc = subprocess.Popen([sys.executable, "-c", SERVER], cwd=folder, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        self._expect("READY")

    def _expect(self, word):
        line = self.proc.stdout.readline().split()
        if not line or line[0] != word:
            raise RuntimeError(f"the tutorial server said {line!r}:\n{(self.folder / 'server.stderr').read_text()}")
        return line[1:]

    def run(self, script, cwd, env, timeout):
        n = next(self.runs)
        out, err = self.folder / f"{n}.stdout", self.folder / f"{n}.stderr"
        request = dict(script=str(script), cwd=str(cwd), env=env, stdout=str(out), stderr=str(err))
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        pid = int(self._expect("PID")[0])
        killed = []
        timer = threading.Timer(timeout, lambda: killed.append(os.kill(pid, signal.SIGKILL)))
        timer.start()
        try:
            status = int(self._expect("STATUS")[0])
        except BaseException:  # interrupted: the run ends with the test, as subprocess.run's would
            os.kill(pid, signal.SIGKILL)
            self._expect("STATUS")
            raise
        finally:
            timer.cancel()
        args = [sys.executable, str(script)]
        if killed:
            raise subprocess.TimeoutExpired(args, timeout, out.read_text(), err.read_text())
        return subprocess.CompletedProcess(args, status, out.read_text(), err.read_text())

    def close(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.stderr.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = _Server(tmp_path_factory.mktemp("tutorial_server"))
    yield server
    server.close()


def _run_fast(server, script, tmp_path, **extra_env):
    env = dict(
        os.environ,
        GEOKERAS_FAST="1",
        GEOKERAS_FIGURES=str(tmp_path / "figures"),
        KERAS_BACKEND="tensorflow",
        MPLBACKEND="Agg",
        TF_CPP_MIN_LOG_LEVEL="3",
        **extra_env,
    )
    return server.run(script, cwd=tmp_path, env=env, timeout=600)


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_tutorial_runs_in_fast_mode(script, tmp_path, server):
    proc = _run_fast(server, script, tmp_path)
    assert proc.returncode == 0, f"{script.name} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    assert "RESULT" in proc.stdout, f"{script.name} did not print its RESULT line"
    written = sorted(p.name for p in (tmp_path / "figures").glob("*.png"))
    assert written, f"{script.name} wrote no figure"
    assert all(name.startswith(script.name[:2] + "_") for name in written), written


# Tutorials whose key ingredient GEOKERAS_ABLATE=<name> removes (cheap ones only): the claim's check must
# then fail, so the check is shown to be able to fail. The third field is the message of the assertion
# that must fail (those checks sit right after the computation they judge, so the ablated run stops
# there, early); without one, any assertion among the final checks (after the RESULT line) will do.
ABLATED = [
    ("02_decoder_activations_and_losses.py", "linear_mse", "linear + MSE in place of sigmoid + BCE on the masks",
     "the masks' likelihood"),
    ("05_denoising_autoencoders.py", "clean_to_clean", "conv denoiser trained clean -> clean",
     "noisy -> clean training"),
    ("06_sparse_autoencoder.py", "1", "no KL sparsity penalty", None),
    ("07_contractive_autoencoder.py", "1", "contractive penalty weight 0", None),
    ("08_transposed_convolution.py", "flipped_kernel", "layers given the flipped kernel (a true convolution)",
     "cross-correlation"),
    ("10_vae_lines.py", "untrained", "no training (the untrained encoder and decoder)", "recovered from the code"),
    ("10_vae_lines.py", "beta0", "beta = 0 for the three-latent VAE (no KL term)", "at the prior"),
    ("11_seismic_denoising_end_to_end.py", "shuffled_targets", "training targets shuffled across windows",
     "follows the clean signal"),
    ("12_vae_from_the_lecture.py", "mean_copies", "200 copies of the data's mean signal as the samples",
     "cover the data"),
    ("12_vae_from_the_lecture.py", "beta0", "beta = 0 for the oscillation VAE (no KL term)", "cover the data"),
]


@pytest.mark.slow
@pytest.mark.parametrize("name, ablation, what, message", ABLATED, ids=[f"{n[:2]}-{a}" for n, a, *_ in ABLATED])
def test_tutorial_claim_fails_without_its_key_ingredient(name, ablation, what, message, tmp_path, server):
    script = TUTORIALS / name
    text = script.read_text()
    assert "GEOKERAS_ABLATE" in text and f'== "{ablation}"' in text, f"{name} has no ablation {ablation!r}"
    proc = _run_fast(server, script, tmp_path, GEOKERAS_ABLATE=ablation)
    assert proc.returncode != 0 and "AssertionError" in proc.stderr, (
        f"{name} passed its checks with {what}:\n{proc.stdout[-3000:]}"
    )
    if message is None:  # it reached its final checks (RESULT is printed just before them) and one failed
        assert "RESULT" in proc.stdout, f"{name} ({what}) failed before its checks:\n{proc.stderr[-3000:]}"
    else:  # the assertion that judges the ablated ingredient is the one that failed
        assert message in proc.stderr.splitlines()[-1], f"{name} ({what}) failed elsewhere:\n{proc.stderr[-3000:]}"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_tutorial_reads_as_a_notebook(script):
    # Default (light) format: every line of the script lands in a cell.
    light = jupytext.read(script)
    assert len(light.cells) >= 5
    # Sphinx-gallery format: the tutobook's triple-quoted blocks become markdown cells.
    nb = jupytext.read(script, fmt="py:sphinx")
    markdown = [c.source for c in nb.cells if c.cell_type == "markdown"]
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    header = markdown[0]
    for field in ("Title:", "Author:", "Description:"):
        assert field in header, f"{script.name}: header lacks {field}"
    assert any(m.startswith("## Setup") for m in markdown)
    assert len(code) >= 4 and len(markdown) >= 4
    source = "\n".join(code)
    assert "GEOKERAS_FAST" in source and "GEOKERAS_FIGURES" in source
    assert "keras.utils.set_random_seed(" in source
    assert ".fit(" in source
    assert re.search(r"^\s*assert ", source, re.MULTILINE), f"{script.name} checks nothing"
    # Round trip through .ipynb keeps the cells.
    again = jupytext.reads(jupytext.writes(nb, fmt="ipynb"), fmt="ipynb")
    assert [c.cell_type for c in again.cells] == [c.cell_type for c in nb.cells]


def test_readme_results_table_is_the_generated_one():
    """The README's table is exactly what make_readme_table.py writes from results.json (no hand edits),
    and every row has a recorded run."""
    import importlib.util
    import json

    spec = importlib.util.spec_from_file_location("make_readme_table", TUTORIALS / "make_readme_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    results = json.loads((TUTORIALS / "results.json").read_text())
    assert sorted(results) == [p.name for p in SCRIPTS]
    readme = (TUTORIALS / "README.md").read_text()
    assert f"{module.BEGIN}\n{module.table(results)}\n{module.END}" in readme
    # every row comes from a run of the script as it is now (an edited tutorial needs a new run)
    stale = [p.name for p in SCRIPTS if results[p.name]["script_sha256"] != module.script_hash(p)]
    assert not stale, f"rerun python tutorials/make_readme_table.py {' '.join(n[:2] for n in stale)}"
