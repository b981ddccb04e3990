"""Text methods: masked language modelling (+ next-sentence prediction)."""

from sslkit.methods.text.mlm import MaskedLM

__all__ = ["MaskedLM"]
