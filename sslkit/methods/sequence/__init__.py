"""Sequence methods: predict what comes next (patches below, future frames)."""

from sslkit.methods.sequence.cpc import CPC
from sslkit.methods.sequence.future_frame import FutureFrame

__all__ = ["CPC", "FutureFrame"]
