"""The transfer subcommands of ``sslkit``: ``export``, ``label-efficiency``, ``cross-domain``, ``adapt``.

Run through :mod:`sslkit.commands`, which reads a YAML config (``--config``)
whose keys are the typed arguments of each function, so misspelt keys fail
early and ``--print_config`` documents them::

    sslkit export --ckpt runs/digits-simclr/checkpoints/last.ckpt --out backbone.safetensors
    sslkit label-efficiency --config recipes/transfer/digits/label_efficiency.yaml
    sslkit cross-domain --config recipes/transfer/digits/cross_domain.yaml
    sslkit adapt --config recipes/transfer/digits/adaptation.yaml
"""

from __future__ import annotations

from collections.abc import Callable


def _export(ckpt: str, out: str) -> None:
    """Export the backbone of a checkpoint as safetensors plus a JSON (registry name and arguments).

    Args:
        ckpt: a pretraining or transfer Lightning checkpoint.
        out: the ``.safetensors`` file to write; the JSON goes next to it.
    """
    from sslkit.transfer.export import export_backbone

    path = export_backbone(ckpt, out)
    print(f"wrote {path} and {path.with_suffix('.json')}")


def functions() -> dict[str, Callable]:
    """The transfer subcommands, by name."""
    from sslkit.transfer.adaptation import domain_adaptation
    from sslkit.transfer.cross_domain import cross_domain
    from sslkit.transfer.label_efficiency import label_efficiency

    return {"export": _export, "label-efficiency": label_efficiency, "cross-domain": cross_domain,
            "adapt": domain_adaptation}


COMMANDS: tuple[str, ...] = ("export", "label-efficiency", "cross-domain", "adapt")
