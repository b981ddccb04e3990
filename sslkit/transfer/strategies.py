"""One table of transfer strategies: name -> how the backbone is set up, and whether features are cached.

Every place that names a strategy (:class:`~sslkit.transfer.TransferClassifier`,
the label-efficiency / cross-domain sweeps in :mod:`sslkit.transfer.runner`, the
benchmarks) reads this table, in the manner of timm's ``register_model`` /
``list_models``: :func:`register_strategy` adds an entry, :func:`get_strategy`
looks one up with a clear error, :func:`list_strategies` filters.

* ``cached``: the backbone never runs during training, so features of a whole
  split are computed once (``linear``, and the scikit-learn heads of
  :mod:`sslkit.transfer.classic`).
* ``classifier``: a :class:`~sslkit.transfer.TransferClassifier` strategy (the
  scikit-learn heads are not: the sweeps fit them on cached features).
* ``setup(backbone, freeze_stages=..., adapter_kwargs=...)``: prepares the
  backbone in place (freezing, adapters) and returns it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from torch import nn

from sslkit.transfer.adapters import ADAPTERS, apply_adapter
from sslkit.transfer.classic import CLASSIC
from sslkit.transfer.freezing import freeze, freeze_first_stages

Setup = Callable[..., nn.Module]


@dataclass(frozen=True)
class StrategySpec:
    """One registered strategy.

    Args:
        name: the name used in recipes (``model.init_args.strategy``) and sweeps.
        setup: prepares a backbone: ``setup(backbone, freeze_stages=k, adapter_kwargs=dict) -> backbone``.
        cached: features are extracted once and the backbone never trains or runs in training.
        classifier: a :class:`~sslkit.transfer.TransferClassifier` strategy (else a scikit-learn head).
        adapter: trains ``peft`` adapters (``adapter_kwargs`` apply).
        doc: one line for tables and error messages.
    """

    name: str
    setup: Setup
    cached: bool = False
    classifier: bool = True
    adapter: bool = False
    doc: str = ""


_STRATEGIES: dict[str, StrategySpec] = {}


def register_strategy(name: str, *, cached: bool = False, classifier: bool = True, adapter: bool = False,
                      doc: str = "") -> Callable[[Setup], Setup]:
    """Decorator registering ``setup`` under ``name`` (see :class:`StrategySpec`)."""

    def wrap(setup: Setup) -> Setup:
        if name in _STRATEGIES:
            raise ValueError(f"strategy {name!r} is already registered")
        _STRATEGIES[name] = StrategySpec(name, setup, cached, classifier, adapter, doc)
        return setup

    return wrap


def get_strategy(name: str) -> StrategySpec:
    """The entry of ``name``; an unknown name raises a ``ValueError`` listing the registered ones."""
    if name not in _STRATEGIES:
        raise ValueError(f"unknown transfer strategy {name!r}; choose one of {list_strategies()}")
    return _STRATEGIES[name]


def list_strategies(cached: bool | None = None, classifier: bool | None = None) -> list[str]:
    """Registered names, in registration order, optionally filtered by ``cached`` / ``classifier``."""
    return [s.name for s in _STRATEGIES.values()
            if (cached is None or s.cached == cached) and (classifier is None or s.classifier == classifier)]


def _frozen(backbone: nn.Module, **_: Any) -> nn.Module:
    freeze(backbone)
    return backbone


def _trainable(backbone: nn.Module, **_: Any) -> nn.Module:
    return backbone


def _partial(backbone: nn.Module, freeze_stages: int = 0, **_: Any) -> nn.Module:
    freeze_first_stages(backbone, freeze_stages)
    return backbone


register_strategy("linear", cached=True, doc="frozen backbone (eval mode) + linear head; features cached")(_frozen)
register_strategy("finetune", doc="everything trains (layer_decay / backbone_lr_scale optional)")(_trainable)
register_strategy("partial", doc="stem + first freeze_stages stages frozen (their BatchNorm in eval mode)")(_partial)
register_strategy("layer_decay", doc="finetune with layer-wise learning-rate decay (layer_decay < 1)")(_trainable)
for _name in ADAPTERS:
    register_strategy(_name, adapter=True, doc=f"frozen backbone + peft {_name} adapters")(
        lambda backbone, adapter_kwargs=None, _m=_name, **_: apply_adapter(backbone, _m, adapter_kwargs))
for _name in CLASSIC:
    register_strategy(_name, cached=True, classifier=False, doc=f"scikit-learn {_name} on cached features")(_frozen)
