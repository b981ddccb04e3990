"""Readouts of a masked-image method on digits, over seeds: which features does a short pretraining improve?

Trains the model of a digits recipe with a plain loop (the recipe's model arguments, AdamW settings, linear
warm-up + cosine per step, epochs, augmentation and batch size; no Lightning, no online probe), then scores
frozen features with the summary's logistic regression on 10% of the training labels
(:meth:`sslkit.callbacks.LinearEvalSummary.evaluate`) for several readouts, before and after training:

* ``embed``: the method's :meth:`embed` (the backbone's pooled output: class token, or the mean patch token
  with ``global_pool: avg``),
* ``mean_tokens``: the mean of the final (normed) patch tokens of ``forward_tokens``,
* ``stage<i>``: the mean patch token after block ``i`` (``embed_stage: i``).

    python benchmarks/masked_readouts.py recipes/pretrain/digits/mae.yaml --seeds 0 1 2 \
        [--set mask_ratio=0.75 --set backbone_kwargs.global_pool=token --epochs 30]

Set ``OMP_NUM_THREADS=1`` on a shared machine.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import time

import torch
import yaml

from sslkit.backbones.stages import backbone_stages, pool_features
from sslkit.callbacks.summary import LinearEvalSummary
from sslkit.data import DigitsDataModule
from sslkit.transforms import ViewAugment, normalize
from sslkit.utils.optim import split_weight_decay


def readouts(model, dm) -> dict[str, float]:
    summary, out = LinearEvalSummary(0.1), {}
    model.eval()
    out["embed"] = summary.evaluate(model, dm)["linear_acc_ssl"]
    embed = model.embed
    model.embed = lambda x: pool_features(model.backbone.forward_tokens(x), model.backbone.num_prefix_tokens)
    out["mean_tokens"] = summary.evaluate(model, dm)["linear_acc_ssl"]
    model.embed = embed
    for i in range(len(backbone_stages(model.backbone))):
        model.embed_stage = i
        out[f"stage{i}"] = summary.evaluate(model, dm)["linear_acc_ssl"]
    model.embed_stage = None
    model.train()
    return {k: round(100 * v, 1) for k, v in out.items()}


def run(recipe: dict, seed: int) -> None:
    m = recipe["model"]
    module, name = m["class_path"].rsplit(".", 1)
    args = {k: v for k, v in m["init_args"].items() if k not in ("optimizer", "lr_scheduler")}
    opt_args = m["init_args"]["optimizer"]["init_args"]
    warmup = m["init_args"].get("lr_scheduler", {}).get("init_args", {}).get("warmup_epochs", 0)
    data = recipe["data"]["init_args"]
    view = {k: v for k, v in data["views"][0].items() if k != "num_views"}
    torch.manual_seed(seed)
    model = getattr(importlib.import_module(module), name)(**args)
    dm = DigitsDataModule(load_size=data["load_size"], views=[ViewAugment(**view)])
    x_all = dm.splits()["train"][0].tensors[0]
    aug, bs = ViewAugment(**view), data["batch_size"]
    opt = torch.optim.AdamW(split_weight_decay(model), **opt_args)
    epochs = recipe["trainer"]["max_epochs"]
    per_epoch = len(x_all) // bs  # drop_last, as the DataModule
    total, warm = epochs * per_epoch, int(warmup * per_epoch)
    before, t0, step = readouts(model, dm), time.time(), 0
    for _ in range(epochs):
        perm = torch.randperm(len(x_all))
        for i in range(per_epoch):
            f = step / warm if step < warm else 0.5 * (1 + math.cos(math.pi * (step - warm) / max(total - warm, 1)))
            for g in opt.param_groups:
                g["lr"] = opt_args["lr"] * f
            out = model.training_loss([normalize(aug.batched(x_all[perm[i * bs:(i + 1) * bs]]), dm.mean, dm.std)])
            opt.zero_grad()
            out["loss"].backward()
            opt.step()
            step += 1
            for _, encoder in model.momentum_encoders():
                encoder.step(step, total)
    after = readouts(model, dm)
    print(json.dumps({"seed": seed, "epochs": epochs, "final_loss": round(out["loss"].item(), 4),
                      "seconds": round(time.time() - t0), "init": before, "trained": after}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("recipe")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--set", action="append", default=[], help="model arg: key=json or backbone_kwargs.key=json")
    a = parser.parse_args()
    recipe = yaml.safe_load(open(a.recipe))
    if a.epochs:
        recipe["trainer"]["max_epochs"] = a.epochs
    for item in a.set:
        key, value = item.split("=", 1)
        target = recipe["model"]["init_args"]
        *parents, leaf = key.split(".")
        for p in parents:
            target = target.setdefault(p, {})
        target[leaf] = yaml.safe_load(value)
    for seed in a.seeds:
        run(recipe, seed)


if __name__ == "__main__":
    main()
