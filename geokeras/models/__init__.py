"""Autoencoder builders and models (dense, convolutional, variational, contractive)."""
from geokeras.models.contractive import ContractiveAutoencoder, build_contractive_autoencoder
from geokeras.models.conv import (
    build_conv1d_autoencoder,
    build_conv2d_autoencoder,
    build_conv_autoencoder,
)
from geokeras.models.dense import build_dense_autoencoder
from geokeras.models.vae import VAE, build_conv_vae, build_dense_vae

__all__ = [
    "ContractiveAutoencoder",
    "VAE",
    "build_contractive_autoencoder",
    "build_conv1d_autoencoder",
    "build_conv2d_autoencoder",
    "build_conv_autoencoder",
    "build_conv_vae",
    "build_dense_autoencoder",
    "build_dense_vae",
]
from geokeras.models.denoiser import build_denoiser, build_stft_mask_denoiser, build_unet1d_denoiser, denoiser_info  # noqa: E402,F401 (C)
