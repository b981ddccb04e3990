"""Sweep the noise level and the readout (encoder stage or decoder block) of a pretrained DDPM, as DDAE does.

For every ``--timesteps`` value (``clean`` = the clean input) and every ``--stages`` index,
features of the frozen checkpoint are scored by the linear evaluation of
:class:`~sslkit.callbacks.LinearEvalSummary`: a logistic regression on ``--label-fraction``
of the training labels. The choice is made on the validation split; the test
accuracy of the chosen setting is printed with it (selecting on test would
overstate it). Set the winner in the recipe (``model.init_args.embed_t`` /
``embed_stage``) for evaluation and transfer.

    python benchmarks/diffusion_timesteps.py --config recipes/pretrain/digits/diffusion.yaml \
        --ckpt runs/diffusion/checkpoints/last.ckpt --timesteps clean 0 10 50 100 250 --stages -1 1 --decoder-blocks 0 1 -1
"""

from __future__ import annotations

import argparse

import torch

from sslkit.metrics.linear import linear_eval
from sslkit.cli import SSLKitCLI
from sslkit.methods import DDPM, load_method
from sslkit.utils.features import extract_features


def score(model: DDPM, datamodule, label_fraction: float, seed: int) -> dict[str, float]:
    """Linear accuracy on the val and test splits of the model's current ``embed``."""
    model.eval()
    with torch.no_grad():
        train = extract_features(model.embed, datamodule.labelled_dataset("train", fraction=label_fraction, seed=seed))
        return {split: linear_eval(train, extract_features(model.embed, datamodule.labelled_dataset(split)))
                for split in ("val", "test")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="the pretraining recipe (for its DataModule)")
    parser.add_argument("--ckpt", required=True, help="a DDPM checkpoint written by sslkit fit")
    parser.add_argument("--timesteps", nargs="+", default=["clean", "0", "10", "50", "100", "250"],
                        help="timestep indices, or 'clean' for the un-noised input")
    parser.add_argument("--stages", nargs="+", type=int, default=[-1], help="backbone stages to read (-1: last)")
    parser.add_argument("--decoder-blocks", nargs="*", type=int, default=[],
                        help="also read these decoder blocks (embed_readout: decoder; 0 = deepest, -1 = last)")
    parser.add_argument("--label-fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    cli = SSLKitCLI(args=["--config", args.config, "--trainer.logger=false", "--trainer.callbacks=[]",
                          "--trainer.enable_checkpointing=false", "--wandb.mode=disabled"], run=False)
    dm = cli.datamodule
    model = load_method(args.ckpt)
    if not isinstance(model, DDPM):
        raise SystemExit(f"{args.ckpt} holds a {type(model).__name__}, not a DDPM")
    results = []
    readouts = [("encoder", s) for s in args.stages] + [("decoder", b) for b in args.decoder_blocks]
    for t in args.timesteps:
        for readout, index in readouts:
            model.embed_t = None if t == "clean" else int(t)
            model.embed_readout = readout
            model.embed_stage = None if readout == "decoder" or index == -1 else index
            model.embed_decoder_block = index
            acc = score(model, dm, args.label_fraction, args.seed)
            stage = f"{readout[:3]}{index}"
            results.append((t, stage, acc))
            print(f"embed_t={t:>5}  {stage:>6}  val {100 * acc['val']:.1f}%  test {100 * acc['test']:.1f}%",
                  flush=True)
    t, stage, acc = max(results, key=lambda r: r[2]["val"])
    print(f"best on val: embed_t={t} {stage}: val {100 * acc['val']:.1f}%, test {100 * acc['test']:.1f}% "
          f"({100 * args.label_fraction:g}% of the training labels)")


if __name__ == "__main__":
    main()
