"""Text methods: masked language modelling (+ next-sentence prediction)."""

from sslkit.methods.text.causal_lm import CausalLM
from sslkit.methods.text.mlm import MaskedLM

__all__ = ["CausalLM", "MaskedLM"]
