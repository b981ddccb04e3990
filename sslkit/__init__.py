"""sslkit: self-supervised pretraining and transfer learning on PyTorch Lightning."""

__version__ = "0.1.0"
