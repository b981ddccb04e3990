"""Generative methods: autoencoders, VAE, GAN features, diffusion pretraining."""

from sslkit.methods.generative.autoencoder import Autoencoder
from sslkit.methods.generative.bigan import BiGAN
from sslkit.methods.generative.dae import DenoisingAutoencoder
from sslkit.methods.generative.diffusion import DDPM
from sslkit.methods.generative.gan import DCGAN
from sslkit.methods.generative.vae import VAE

__all__ = ["DCGAN", "DDPM", "VAE", "Autoencoder", "BiGAN", "DenoisingAutoencoder"]
