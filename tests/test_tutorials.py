"""The tutorials: each runs end to end in fast mode, and each reads as a notebook with jupytext.

Every tutorial ends with assertions of its key result, so a run that exits 0 has checked it.
Fast mode (``GEOKERAS_FAST=1``) keeps each run to seconds; figures go to ``GEOKERAS_FIGURES``.
"""
import os
import re
import subprocess
import sys
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


def _run_fast(script, tmp_path, **extra_env):
    env = dict(
        os.environ,
        GEOKERAS_FAST="1",
        GEOKERAS_FIGURES=str(tmp_path / "figures"),
        KERAS_BACKEND="tensorflow",
        MPLBACKEND="Agg",
        TF_CPP_MIN_LOG_LEVEL="3",
        **extra_env,
    )
    return subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_tutorial_runs_in_fast_mode(script, tmp_path):
    proc = _run_fast(script, tmp_path)
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
def test_tutorial_claim_fails_without_its_key_ingredient(name, ablation, what, message, tmp_path):
    script = TUTORIALS / name
    text = script.read_text()
    assert "GEOKERAS_ABLATE" in text and f'== "{ablation}"' in text, f"{name} has no ablation {ablation!r}"
    proc = _run_fast(script, tmp_path, GEOKERAS_ABLATE=ablation)
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
