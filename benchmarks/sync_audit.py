"""Where a training step waits for the GPU: every synchronising CUDA call of the device pipeline and one step.

Runs a few warm-up steps of a method on the device path (uint8 batch, pinned,
non-blocking copy, batched augmentation, forward, backward, SGD step), then
repeats them under ``torch.cuda.set_sync_debug_mode("warn")`` and prints each
source line that made a synchronising call, with its count. Zero lines means
the host never waited for the device inside a step. Needs a CUDA device.

    python benchmarks/sync_audit.py [--method simclr --backbone timm:resnet18 --batch-size 256 --bf16]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sslkit.data import SyntheticImageDataModule  # noqa: E402
from sslkit.methods import all_methods  # noqa: E402

METHODS = {c.__name__.lower(): c for c in all_methods() if c.inputs == "views"}
from sslkit.transforms import ViewAugment  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--method", default="simclr")
    p.add_argument("--backbone", default="timm:resnet18")
    p.add_argument("--backbone-kwargs", type=json.loads, default={"cifar_stem": True})
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--bf16", action="store_true")
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to audit")
        return 0
    device = torch.device("cuda")
    warnings.filterwarnings("ignore", message=".*self.log.*")
    dm = SyntheticImageDataModule(train_size=args.batch_size * (2 * args.steps + 2), val_size=1, test_size=1,
                                  image_size=args.size, batch_size=args.batch_size,
                                  views=[ViewAugment(size=args.size, num_views=2)])
    model = METHODS[args.method](backbone=args.backbone, backbone_kwargs=args.backbone_kwargs).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if args.bf16 else contextlib.nullcontext
    batches = iter(dm.train_dataloader())

    def step() -> None:
        x, y = next(batches)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        views = dm.augment_batch(x)
        with autocast():
            loss = model.training_step((views, y), 0)["loss"]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(args.steps):
        step()
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            for _ in range(args.steps):
                step()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    where = collections.Counter(f"{w.filename}:{w.lineno}" for w in caught if "synchroniz" in str(w.message))
    print(f"{args.method} {args.backbone}: {sum(where.values())} synchronising calls in {args.steps} steps")
    for loc, n in where.most_common():
        print(f"  {n:4d}  {loc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
