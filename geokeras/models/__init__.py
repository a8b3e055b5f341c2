"""Autoencoder builders and models (dense, convolutional, variational, contractive)."""
from geokeras.models.conv import (
    build_conv1d_autoencoder,
    build_conv2d_autoencoder,
    build_conv_autoencoder,
)
from geokeras.models.dense import build_dense_autoencoder

__all__ = [
    "build_conv1d_autoencoder",
    "build_conv2d_autoencoder",
    "build_conv_autoencoder",
    "build_dense_autoencoder",
]
