"""The data subcommand of ``sslkit``: ``convert-litdata`` (an ImageFolder to LitData chunks).

Run through :mod:`sslkit.commands`::

    sslkit convert-litdata --root data/imagenet100/train --val_root data/imagenet100/val --out data/imagenet100-litdata
"""

from __future__ import annotations

from collections.abc import Callable


def convert_litdata(root: str, out: str, labelled: bool = True, val_root: str | None = None,
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


def functions() -> dict[str, Callable]:
    """The data subcommands, by name."""
    return {"convert-litdata": convert_litdata}


COMMANDS: tuple[str, ...] = ("convert-litdata",)
