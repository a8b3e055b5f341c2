"""Custom Keras layers of geokeras (one layer per module), all registered for safe saving."""
from geokeras.layers.activity_loss import ActivityLoss
from geokeras.layers.masking_noise import MaskingNoise
from geokeras.layers.sampling import Sampling
from geokeras.layers.tied_dense import TiedDense

__all__ = ["ActivityLoss", "MaskingNoise", "Sampling", "TiedDense"]
