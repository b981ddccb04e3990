"""Where a training step waits for the GPU: synchronising calls and collectives per step of a whole ``sslkit fit``.

``--fit`` (default) runs ``sslkit fit`` on a recipe (the CLI, the recipe's
Trainer settings, every default callback, synthetic data of the recipe's
shape) for a few steps with :class:`sync_counter.SyncAuditCallback`, and
prints, per training step outside Lightning's logging steps and per logging
step, every source line that makes a call that synchronises on a GPU
(``.item()``, ``bool(tensor)``, a host value copied to the device, ...) or a
collective. Works on a CPU (what *would* stall a GPU) and on a GPU, where the
windows also run under ``torch.cuda.set_sync_debug_mode("warn")`` and the
synchronisations CUDA itself reports are listed too. Exit status 1 when a
non-logging step synchronises or runs a collective.

``--bare`` audits the device pipeline's bare loop instead (uint8 batch, pinned,
non-blocking copy, batched augmentation, forward, backward, SGD step) under
CUDA's sync debug mode; needs a CUDA device.

    python benchmarks/sync_audit.py                       # recipes/pretrain/cifar10/simclr.yaml, tiny backbone on CPU
    python benchmarks/sync_audit.py --recipe recipes/pretrain/cifar10/byol.yaml --full-model   # on a GPU
    python benchmarks/sync_audit.py --bare --bf16
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sslkit.data import SyntheticImageDataModule  # noqa: E402
from sslkit.methods import all_methods  # noqa: E402
from sslkit.transforms import ViewAugment  # noqa: E402
from sync_counter import SyncAuditCallback, host_only  # noqa: E402

METHODS = {c.__name__.lower(): c for c in all_methods() if c.inputs == "views"}
ROOT = Path(__file__).resolve().parents[1]

def small_model(recipe: str | Path) -> list[str]:
    """Overrides shrinking a recipe's backbone for CPU runs (the calls made per step do not depend on its size):
    a ViT keeps its kind with 2 blocks, anything else becomes a 3-stage tiny CNN."""
    import yaml

    init = (yaml.safe_load(Path(recipe).read_text()).get("model") or {}).get("init_args") or {}
    backbone, kwargs = str(init.get("backbone", "")), dict(init.get("backbone_kwargs") or {})
    if "vit" in backbone:
        return [f"--model.init_args.backbone_kwargs={json.dumps({**kwargs, 'depth': 2})}"]
    return ["--model.init_args.backbone=tiny_cnn", '--model.init_args.backbone_kwargs={"widths": [8, 16, 32]}']


def synthetic_data(recipe: str | Path) -> list[str]:
    """Overrides putting a recipe on :class:`~sslkit.data.SyntheticImageDataModule` (methods that check the
    DataModule's normalisation get the synthetic data's)."""
    import yaml

    init = (yaml.safe_load(Path(recipe).read_text()).get("model") or {}).get("init_args") or {}
    args = ["--data.class_path=sslkit.data.SyntheticImageDataModule"]
    if "input_mean" in init:
        args += ["--model.init_args.input_mean=[0.5,0.5,0.5]", "--model.init_args.input_std=[0.29,0.29,0.29]"]
    return args


def fit_args(recipe: str | Path, root: str | Path, steps: int, full_model: bool, log_every: int = 4,
             batch_size: int = 8, extra: list[str] | None = None) -> list[str]:
    """``sslkit fit`` arguments: the recipe on synthetic data of its shape, ``steps`` steps, any device."""
    gpu = torch.cuda.is_available()
    args = ["fit", "--config", str(recipe), f"--trainer.max_steps={steps}", f"--trainer.log_every_n_steps={log_every}",
            f"--trainer.default_root_dir={root}", "--trainer.devices=1", "--wandb.mode=disabled",
            *synthetic_data(recipe), f"--data.init_args.train_size={batch_size * 8}",
            "--data.init_args.val_size=16", "--data.init_args.test_size=16", f"--data.init_args.batch_size={batch_size}",
            "--data.init_args.eval_batch_size=16", "--data.init_args.num_workers=0", "--report=false"]
    if not gpu:
        args += ["--trainer.accelerator=cpu", "--trainer.precision=32-true", "--trainer.sync_batchnorm=false"]
    if not full_model:
        args += small_model(recipe)
    return args + list(extra or [])


def audit_fit(args: list[str]):
    """Run ``sslkit fit`` in this process with a :class:`SyncAuditCallback`; returns the callback."""
    from sslkit.cli import SSLKitCLI

    args = args + ['--trainer.callbacks+={"class_path": "sync_counter.SyncAuditCallback"}']
    cli = SSLKitCLI(args=args)
    return next(c for c in cli.trainer.callbacks if isinstance(c, SyncAuditCallback))


def _tally(steps: list[collections.Counter]) -> tuple[collections.Counter, int]:
    total: collections.Counter = collections.Counter()
    for s in steps:
        total.update(s)
    return total, len(steps)


def fit_main(args: argparse.Namespace, extra: list[str]) -> int:
    import tempfile

    with tempfile.TemporaryDirectory() as root:
        cb = audit_fit(fit_args(args.recipe, root, args.steps, args.full_model, args.log_every, args.batch_size, extra))
    status = 0
    for title, steps in (("training steps outside logging steps", cb.steps), ("logging steps", cb.logging_steps)):
        total, n = _tally(steps)
        calls = sum(c for k, c in total.items() if not host_only(k))
        print(f"{Path(args.recipe).name}: {calls / max(n, 1):.2f} synchronising calls or collectives per step "
              f"in {n} {title}")
        for key, c in total.most_common():
            note = f"  (not a sync: {host_only(key)})" if host_only(key) else ""
            print(f"  {c / n:7.2f}/step  {key}{note}")
        if title.startswith("training") and (sum(c for k, c in total.items() if not host_only(k)) or n == 0):
            status = 1
    if cb.cuda_counts:
        print("CUDA's own report (set_sync_debug_mode), per step outside logging steps:")
        for key, c in cb.cuda_counts.most_common():
            print(f"  {c / max(len(cb.steps), 1):7.2f}/step  {key}")
        status = 1
    return status


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bare", action="store_true", help="audit the device pipeline's bare loop (CUDA only)")
    p.add_argument("--recipe", default=str(ROOT / "recipes/pretrain/cifar10/simclr.yaml"), help="--fit: the recipe")
    p.add_argument("--full-model", action="store_true", help="--fit: keep the recipe's backbone (default: a tiny CNN)")
    p.add_argument("--log-every", type=int, default=4, help="--fit: trainer.log_every_n_steps")
    p.add_argument("--method", default="simclr")
    p.add_argument("--backbone", default="timm:resnet18")
    p.add_argument("--backbone-kwargs", type=json.loads, default={"cifar_stem": True})
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--steps", type=int, default=None, help="steps (default: 3 bare, 13 fit)")
    p.add_argument("--bf16", action="store_true")
    argv = sys.argv[1:] if argv is None else list(argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []  # after "--": more sslkit fit options
    args = p.parse_args(argv[:len(argv) - len(extra) - (1 if "--" in argv else 0)])
    if not args.bare:
        args.steps = args.steps or 13
        args.batch_size = args.batch_size if "--batch-size" in argv else 8
        os.environ.setdefault("WANDB_MODE", "disabled")
        return fit_main(args, extra)
    args.steps = args.steps or 3
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
