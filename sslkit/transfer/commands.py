"""Extra ``sslkit`` subcommands: ``export``, ``label-efficiency``, ``cross-domain``, ``adapt``, ``convert-litdata``, ``compare``.

Each reads a YAML config (``--config``) whose keys are the typed arguments of
its function, so misspelt keys fail early and ``--print_config`` documents them::

    sslkit export --ckpt runs/digits-simclr/checkpoints/last.ckpt --out backbone.safetensors
    sslkit label-efficiency --config recipes/transfer/digits/label_efficiency.yaml
    sslkit cross-domain --config recipes/transfer/digits/cross_domain.yaml
    sslkit adapt --config recipes/transfer/digits/adaptation.yaml
    sslkit compare --out_dir runs/zoo --seeds [0,1,2] --jobs 2
    sslkit convert-litdata --root data/imagenet100/train --val_root data/imagenet100/val --out data/imagenet100-litdata
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


def _convert_litdata(root: str, out: str, labelled: bool = True, val_root: str | None = None,
                     test_root: str | None = None, val_fraction: float = 0.1, test_fraction: float = 0.1,
                     split_seed: int = 0, chunk_bytes: str = "64MB", num_workers: int = 1) -> None:
    """Convert an ImageFolder into LitData chunks for sslkit.data.StreamingImageDataModule.

    Args:
        root: the training folder (root/<class>/<image>, or any images with labelled false).
        out: output folder; gets train/, val/, test/ and sslkit.json.
        labelled: whether root has one subfolder per class.
        val_root: optional validation folder (else val_fraction of root).
        test_root: optional test folder (else test_fraction of root).
        val_fraction: share held out for validation when there is no val_root.
        test_fraction: share held out for test when there is no test_root.
        split_seed: seed of the held-out splits.
        chunk_bytes: target size of one chunk file.
        num_workers: processes reading files.
    """
    from sslkit.data.streaming import convert_image_folder

    path = convert_image_folder(root, out, labelled, val_root, test_root, val_fraction, test_fraction, split_seed,
                                chunk_bytes, num_workers)
    print(f"wrote {path}/{{train,val,test}} and {path}/sslkit.json")


def _functions() -> dict[str, Callable]:
    from sslkit.report.compare import compare
    from sslkit.transfer.adaptation import domain_adaptation
    from sslkit.transfer.cross_domain import cross_domain
    from sslkit.transfer.label_efficiency import label_efficiency

    return {"export": _export, "label-efficiency": label_efficiency, "cross-domain": cross_domain,
            "adapt": domain_adaptation, "convert-litdata": _convert_litdata, "compare": compare}


COMMANDS: tuple[str, ...] = ("export", "label-efficiency", "cross-domain", "adapt", "convert-litdata", "compare")


def summary(command: str) -> str:
    """The one-line description of a subcommand (the first line of its docstring)."""
    line = (_functions()[command].__doc__ or "").strip().split("\n")[0].rstrip(".")
    return line[:1].lower() + line[1:]


def parser(command: str):
    """The jsonargparse parser of one subcommand."""
    from jsonargparse import ActionConfigFile, ArgumentParser

    fn = _functions()[command]
    p = ArgumentParser(prog=f"sslkit {command}", description=summary(command), exit_on_error=True)
    p.add_argument("--config", action=ActionConfigFile, help="YAML config with the arguments below")
    p.add_function_arguments(fn, as_group=False)
    return p


def run(command: str, args: list[str]) -> object:
    """Parse ``args`` for ``command`` and run it."""
    p = parser(command)
    cfg = p.parse_args(args)
    init = p.instantiate_classes(cfg)
    kwargs = {k: v for k, v in vars(init).items() if k not in ("config", "__path__", "print_config")}
    return _functions()[command](**{k: _plain(v) for k, v in kwargs.items()})


def _plain(v: object) -> object:
    from jsonargparse import Namespace

    return v.as_dict() if isinstance(v, Namespace) else v
