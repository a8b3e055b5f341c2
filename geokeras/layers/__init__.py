"""Custom Keras layers of geokeras (one layer family per module), all registered for safe saving.

Every layer is exported here (a test keeps the list complete):

- `TiedDense`, `ActivityLoss`, `MaskingNoise`, `Sampling`: autoencoder building blocks;
- `WindowStandardization`, `WindowRescale`: the denoisers' in-graph normalization and its inverse;
- `STFT`, `InverseSTFT`, `LogPower`, `ComplexMask`, `SignInvariantFeatures`, `MaskSmoothing`: the
  spectrogram-mask path;
- `SplitComponents`, `ComponentMask`: one mask for a station's components (`geokeras.models.components`).
"""
from geokeras.layers.activity_loss import ActivityLoss
from geokeras.layers.mask import ComponentMask, EnsembleMask, MaskSmoothing, SplitComponents
from geokeras.layers.masking_noise import MaskingNoise
from geokeras.layers.normalization import WindowRescale, WindowStandardization
from geokeras.layers.sampling import Sampling
from geokeras.layers.stft import STFT, ComplexMask, InverseSTFT, LogPower, SignInvariantFeatures
from geokeras.layers.tied_dense import TiedDense

__all__ = [
    "ActivityLoss", "ComplexMask", "ComponentMask", "EnsembleMask", "InverseSTFT", "LogPower", "MaskSmoothing", "MaskingNoise", "STFT",
    "Sampling", "SignInvariantFeatures", "SplitComponents", "TiedDense", "WindowRescale", "WindowStandardization",
]
