"""Parameter-efficient fine-tuning of any registry backbone through ``peft``.

* ``lora`` / ``ia3`` on any backbone: adapters are injected in place with
  ``peft.inject_adapter_in_model`` (conv and linear layers; Hu et al., 2021,
  "LoRA: Low-Rank Adaptation of Large Language Models", arXiv:2106.09685; Liu et
  al., 2022, "Few-Shot Parameter-Efficient Fine-Tuning is Better and Cheaper than
  In-Context Learning" (IA3), arXiv:2205.05638).
* ``adalora``, ``prefix_tuning``, ``prompt_tuning`` need a Hugging Face model:
  the first ``transformers.PreTrainedModel`` inside the backbone is wrapped with
  ``peft.get_peft_model`` (AdaLoRA: Zhang et al., 2023, arXiv:2303.10512;
  prefix tuning: Li & Liang, 2021, arXiv:2101.00190; prompt tuning: Lester et
  al., 2021, arXiv:2104.08691).

AdaLoRA's orthogonality regulariser (``orth_reg_weight * mean ||P P^T - I||_F``
over its ``lora_A`` / ``lora_B`` matrices) is added by peft only when the wrapped
model returns a loss, which sslkit's feature backbones never do:
:func:`adalora_orth_regulariser` computes it for the training loss
(:class:`~sslkit.transfer.TransferClassifier` adds it), and :func:`adalora_step`
runs the rank re-allocation after each optimizer step. Without ``total_step`` in the
adapter arguments, the classifier sets it to the run's optimizer steps when fitting
starts (:func:`adalora_set_total_step`); :func:`adalora_ranks` reads the current ranks.

:func:`merge_adapters` folds ``lora`` / ``ia3`` / ``adalora`` adapters into the
weights and removes them, giving back the plain registry backbone (what
``sslkit export`` writes for a checkpoint trained with adapters).

The classification head is never inside the peft model: it stays a separate,
fully trainable module of :class:`~sslkit.transfer.TransferClassifier` (so it is
trained and saved without ``modules_to_save``).
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn

MERGEABLE: tuple[str, ...] = ("lora", "ia3", "adalora")  # prefix / prompt tuning add tokens, not weights
AdapterName = Literal["lora", "ia3", "adalora", "prefix_tuning", "prompt_tuning"]
ADAPTERS: tuple[str, ...] = ("lora", "ia3", "adalora", "prefix_tuning", "prompt_tuning")
_INJECTABLE = ("lora", "ia3")


def _config(method: str, kwargs: dict[str, Any]):
    import peft

    classes = {"lora": peft.LoraConfig, "ia3": peft.IA3Config, "adalora": peft.AdaLoraConfig,
               "prefix_tuning": peft.PrefixTuningConfig, "prompt_tuning": peft.PromptTuningConfig}
    return classes[method](**kwargs)


def default_target_modules(model: nn.Module) -> list[str]:
    """Names of every ``nn.Linear`` and ``nn.Conv2d`` in ``model`` (the default LoRA targets)."""
    return [name for name, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d)) and name]


def _find_hf_model(backbone: nn.Module) -> tuple[nn.Module, str, nn.Module] | None:
    """``(parent, attribute, model)`` of the first ``PreTrainedModel`` inside ``backbone``."""
    from transformers import PreTrainedModel

    for name, m in backbone.named_modules():
        if isinstance(m, PreTrainedModel):
            parent_name, _, attr = name.rpartition(".")
            return (backbone.get_submodule(parent_name) if parent_name else backbone), attr, m
    return None


def apply_adapter(backbone: nn.Module, method: str, kwargs: dict[str, Any] | None = None) -> nn.Module:
    """Freeze ``backbone`` and add trainable adapters of kind ``method`` (in place when possible).

    Args:
        backbone: a registry backbone.
        method: one of :data:`ADAPTERS`.
        kwargs: arguments of the peft config class (``r``, ``lora_alpha``,
            ``target_modules``, ``num_virtual_tokens``, ``total_step``, ...). For
            ``lora``/``ia3`` on a non-HF backbone, ``target_modules`` defaults to every
            linear and conv layer.

    Returns:
        The backbone with adapters (the same object for injected adapters).
    """
    if method not in ADAPTERS:
        raise ValueError(f"unknown adapter {method!r}; choose one of {ADAPTERS}")
    kwargs = dict(kwargs or {})
    hf = _find_hf_model(backbone)
    if method in _INJECTABLE:
        import peft

        if "target_modules" not in kwargs and hf is None:
            kwargs["target_modules"] = default_target_modules(backbone)
            if method == "ia3":
                kwargs.setdefault("feedforward_modules", [])
        if hf is not None and "target_modules" not in kwargs:
            parent, attr, model = hf
            config = _config(method, kwargs)
            setattr(parent, attr, peft.get_peft_model(model, config))
        else:
            peft.inject_adapter_in_model(_config(method, kwargs), backbone)
        for name, p in backbone.named_parameters():
            p.requires_grad_(f"{method}_" in name)
        return backbone
    if hf is None:
        raise ValueError(f"adapter {method!r} needs a Hugging Face transformer inside the backbone "
                         f"(a text backbone); use 'lora' or 'ia3' for {type(backbone).__name__}")
    import peft

    kwargs.setdefault("task_type", "FEATURE_EXTRACTION")
    if method == "adalora" and "total_step" not in kwargs:  # a placeholder: the classifier sets it at fit start
        kwargs["total_step"] = int(kwargs.get("tinit", 0)) + int(kwargs.get("tfinal", 0)) + 1
    parent, attr, model = hf
    for p in backbone.parameters():
        p.requires_grad_(False)
    setattr(parent, attr, peft.get_peft_model(model, _config(method, kwargs)))
    return backbone


def adalora_step(backbone: nn.Module, global_step: int) -> None:
    """Run AdaLoRA's rank re-allocation after an optimizer step (no-op for other adapters)."""
    from peft import PeftModel

    for m in backbone.modules():
        if isinstance(m, PeftModel) and hasattr(m.base_model, "update_and_allocate"):
            m.base_model.update_and_allocate(global_step)


def adalora_set_total_step(backbone: nn.Module, total_step: int) -> None:
    """Set AdaLoRA's schedule length (``total_step``: the run's optimizer steps) after the adapters exist."""
    from peft import PeftModel
    from peft.tuners.adalora import AdaLoraModel

    for m in backbone.modules():
        if isinstance(m, PeftModel) and isinstance(m.base_model, AdaLoraModel):
            config = m.base_model.peft_config[m.base_model.trainable_adapter_name]
            if not config.tinit < total_step - config.tfinal:
                raise ValueError(f"AdaLoRA needs tinit < total_step - tfinal to reallocate ranks; got tinit="
                                 f"{config.tinit}, tfinal={config.tfinal} for {total_step} steps: lower them")
            m.base_model.rankallocator.set_total_step(int(total_step))
            config.total_step = int(total_step)


def adalora_ranks(backbone: nn.Module) -> dict[str, int]:
    """Current rank of every AdaLoRA-adapted layer: its non-zero singular values (``lora_E`` entries).

    AdaLoRA's rank reallocation (:func:`adalora_step`) zeroes the least important
    entries of ``lora_E`` (the ``Lambda`` of ``P Lambda Q``); the rest keep training.
    """
    return {name.rsplit(".lora_E", 1)[0]: int((p != 0).sum()) for name, p in backbone.named_parameters()
            if ".lora_E." in name}


def adalora_orth_regulariser(backbone: nn.Module) -> torch.Tensor | None:
    """AdaLoRA's orthogonality regulariser of the adapters in ``backbone``, weighted; ``None`` without AdaLoRA.

    The term peft's ``AdaLoraModel.forward`` adds to a model's own loss:
    ``orth_reg_weight`` times the mean over the trainable adapter's matrices of
    ``||A A^T - I||_F`` (``lora_A``, ``r x in``) and ``||B^T B - I||_F`` (``lora_B``,
    ``out x r``), which keeps the singular vectors of ``P Lambda Q`` orthogonal
    (Zhang et al., 2023, eq. 4). Add it to the training loss.
    """
    from peft import PeftModel
    from peft.tuners.adalora import AdaLoraModel

    total: torch.Tensor | None = None
    for m in backbone.modules():
        if not (isinstance(m, PeftModel) and isinstance(m.base_model, AdaLoraModel)):
            continue
        ada = m.base_model
        name = ada.trainable_adapter_name
        weight = float(ada.peft_config[name].orth_reg_weight)
        if weight < 0:
            raise ValueError(f"orth_reg_weight must be >= 0, got {weight}")
        norms = []
        for n, p in ada.model.named_parameters():
            if ("lora_A" in n or "lora_B" in n) and name in n:
                cov = p @ p.T if "lora_A" in n else p.T @ p
                norms.append(torch.linalg.matrix_norm(cov - torch.eye(cov.shape[0], device=p.device, dtype=p.dtype)))
        if norms:
            term = weight * torch.stack(norms).mean()
            total = term if total is None else total + term
    return total


def merge_adapters(backbone: nn.Module) -> nn.Module:
    """Fold every peft adapter in ``backbone`` into its layer's weights and remove the adapters.

    A ``PeftModel`` inside the backbone (adapters on a Hugging Face model) is
    replaced by ``merge_and_unload()``; each injected adapter layer is merged and
    replaced by its base layer. The result has the plain backbone's structure and
    state-dict keys and computes what the adapted backbone computed.

    Args:
        backbone: a backbone with ``lora``, ``ia3`` or ``adalora`` adapters (see :func:`apply_adapter`).

    Returns:
        The plain backbone (the same object unless ``backbone`` itself is a ``PeftModel``).
    """
    from peft import PeftModel
    from peft.tuners.tuners_utils import BaseTunerLayer

    def replace(name: str, module: nn.Module) -> None:
        parent_name, _, attr = name.rpartition(".")
        setattr(backbone.get_submodule(parent_name) if parent_name else backbone, attr, module)

    if isinstance(backbone, PeftModel):
        return backbone.merge_and_unload(safe_merge=True)
    for name, m in list(backbone.named_modules()):
        if isinstance(m, PeftModel):
            if m.peft_config[m.active_adapter].is_prompt_learning:
                raise ValueError(f"{m.peft_config[m.active_adapter].peft_type} adds virtual tokens, which cannot be "
                                 f"folded into the backbone's weights; only {', '.join(MERGEABLE)} adapters merge")
            replace(name, m.merge_and_unload(safe_merge=True))
    for name, m in list(backbone.named_modules()):
        if isinstance(m, BaseTunerLayer):
            m.merge(safe_merge=True)
            replace(name, m.get_base_layer())
    return backbone
