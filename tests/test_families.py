"""The names of the denoiser families (geokeras.training.families): Keras-free, the keys of the builders."""
import subprocess
import sys

import pytest

from geokeras.training.families import DENOISER_FAMILIES, check_family, denoiser_builder


def test_registry_is_the_one_list_everyone_uses():
    from geokeras.models import denoiser
    from geokeras.models.denoiser import build_denoiser

    assert denoiser.DENOISER_FAMILIES == DENOISER_FAMILIES  # the builders' keys, in the same order
    assert denoiser_builder("unet1d") is denoiser.build_unet1d_denoiser
    assert denoiser_builder("stftmask") is denoiser.build_stft_mask_denoiser
    for family in DENOISER_FAMILIES:  # every registered name builds (a name without a builder fails here)
        assert build_denoiser(family, window_length=256, filters=(4, 8)).output_shape == (None, 256, 1)


def test_unknown_family_message():
    with pytest.raises(ValueError, match=r"^Invalid value for argument `family`\. Expected one of 'unet1d', "
                                         r"'stftmask'\. Received family='gan'\.$"):
        denoiser_builder("gan")
    with pytest.raises(ValueError, match="Received family=None"):
        check_family(None)


def test_registry_and_cli_import_no_keras():
    code = ("import sys, geokeras.training.families, geokeras.families, geokeras.cli; "
            "bad = [m for m in sys.modules if m in ('keras', 'tensorflow', 'obspy') or m.startswith('geokeras.models')]; "
            "assert not bad, bad")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_the_models_do_not_import_the_training_package():
    code = ("import sys, geokeras.models.denoiser; "
            "bad = [m for m in sys.modules if m.startswith('geokeras.training') or m == 'geokeras.families']; "
            "assert not bad, bad")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
