"""Training throughput of one method, side by side: compute only, sslkit's two pipelines, the peers' loop.

For a method, backbone, image size and batch, one run measures training
images per second (an image is all its views; a step is forward, backward and
optimizer step) when the batches come from:

* compute: views already augmented and on the device (the model's ceiling);
* device: sslkit's ``augment_on: device`` pipeline: uint8 batches from memory
  (one index per batch, pinned, copied non-blocking), augmented as whole tensors
  on the device (:meth:`ImageDataModule.augment_batch`);
* fit: the same method, backbone and data through ``sslkit fit``: the CLI, the
  recipe's Trainer settings (``--recipe``, default the method's CIFAR-10 recipe),
  every default callback (guards, collapse monitor, dashboards, checkpoints,
  learning-rate monitor, progress bar, loggers) and the recipe's own callbacks,
  on synthetic data of the same shape, on one device; the rate is
  :class:`~sslkit.callbacks.SpeedMonitor`'s after ``--warmup`` steps (measured
  once per row: one CLI launch); ``fit / device`` is its ratio to the bare loop;
* worker: sslkit's ``augment_on: worker`` pipeline: torchvision v2 per image on
  tensors in DataLoader workers;
* peer: the loop lightly and solo-learn use: a shuffled DataLoader over PIL
  images, torchvision v2 per image in the workers, float views to the device.

Pipeline efficiency = pipeline rate / compute rate. Next to them, augmentation
alone (no model), in images per second: sslkit's batched path, kornia's
equivalent ``AugmentationSequential`` on the same device, and the per-sample
torchvision path in the workers. Model FLOPs per image come from
``torch.utils.flop_counter``; MFU is reported against the GPU's dense peak
(``sslkit.utils.flops.PEAK_TFLOPS``; on CPU only FLOP/s). Peak memory: CUDA
max allocated, or the process's peak RSS on CPU.

Each pipeline runs ``--warmup`` untimed steps (worker start-up, compilation),
then ``--steps`` timed ones with a device synchronisation only at both ends;
``--repeats`` runs every column again (starting each round at another column)
and reports medians: rates over the rounds, ratios within each round. Only the
fit column includes Lightning's loop, callbacks and logging.

    python benchmarks/throughput.py --quick          # CPU, about a minute: ResNet-18 and a small CNN at 32 px
    python benchmarks/throughput.py --backbone timm:resnet18 --backbone-kwargs '{"cifar_stem": true}' \\
        --size 32 --batch-size 512 --bf16 --channels-last --compile
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import resource
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from sslkit.data import SyntheticImageDataModule  # noqa: E402
from sslkit.methods import all_methods  # noqa: E402

METHODS = {c.__name__.lower(): c for c in all_methods() if c.inputs == "views"}
from sslkit.transforms import ViewAugment  # noqa: E402
from sslkit.utils.flops import count_flops, peak_flops  # noqa: E402

warnings.filterwarnings("ignore", message=".*self.log.*")
warnings.filterwarnings("ignore", message=".*does not have many workers.*")

PIPELINES = ("compute", "device", "fit", "worker", "peer")
ROOT = Path(__file__).resolve().parents[1]
AUGMENTS = ("aug_sslkit", "aug_kornia", "aug_per_sample")


@dataclass
class Config:
    """One benchmark row."""

    method: str = "simclr"
    backbone: str = "timm:resnet18"
    backbone_kwargs: dict = field(default_factory=lambda: {"cifar_stem": True})
    size: int = 32
    batch_size: int = 256
    steps: int = 20
    warmup: int = 5
    num_workers: int = 4
    bf16: bool = False
    channels_last: bool = False
    compile: bool = False
    blur_prob: float = 0.0
    repeats: int = 1
    columns: tuple[str, ...] = PIPELINES + AUGMENTS
    recipe: str | None = None  # fit column: default recipes/pretrain/cifar10/<method>.yaml


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(device: torch.device, warmup: int, steps: int, batches: Iterator, work: Callable) -> float:
    """Images/s of ``work(batch)`` over ``steps`` batches after ``warmup`` untimed ones (``work`` returns images)."""
    for _ in range(warmup):
        work(next(batches))
    _sync(device)
    start, images = time.perf_counter(), 0
    for _ in range(steps):
        images += work(next(batches))
    _sync(device)
    return images / (time.perf_counter() - start)


def _forever(make_loader: Callable[[], DataLoader]) -> Iterator:
    while True:
        yield from make_loader()


# ---------------------------------------------------------------------- the peers' loop
class PILViews(Dataset):
    """The lightly / solo-learn way: a PIL image per item, torchvision per image, a list of normalised views."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, views: list[ViewAugment], mean, std) -> None:
        from torchvision.transforms import v2 as T

        self.images, self.labels = images, labels  # (N, H, W, C) uint8, as torchvision's CIFAR stores them
        self.pipelines = []
        for v in views:
            steps = [T.RandomResizedCrop(v.size, scale=v.crop_scale, ratio=v.crop_ratio, antialias=True),
                     T.RandomHorizontalFlip(v.hflip_prob),
                     T.RandomApply([T.ColorJitter(v.brightness, v.contrast, v.saturation, v.hue)], p=v.jitter_prob),
                     T.RandomGrayscale(v.grayscale_prob)]
            if v.blur_prob > 0:
                steps.append(T.RandomApply([T.GaussianBlur(v.blur_kernel_size, v.blur_sigma)], p=v.blur_prob))
            if v.solarize_prob > 0:
                steps.append(T.RandomSolarize(128, p=v.solarize_prob))
            steps += [T.ToImage(), T.ToDtype(torch.float32, scale=True), T.Normalize(mean, std)]
            self.pipelines += [T.Compose(steps)] * v.num_views

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        from PIL import Image

        img = Image.fromarray(self.images[i])
        return [p(img) for p in self.pipelines], int(self.labels[i])


class PerSampleViews(Dataset):
    """Augmentation only: sslkit's per-sample views of uint8 tensors (the ``augment_on: worker`` transform)."""

    def __init__(self, images: torch.Tensor, views: list[ViewAugment], mean, std) -> None:
        from sslkit.data.base import _PerSampleViews

        self.images, self.transform = images, _PerSampleViews(views, mean, std)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return self.transform(self.images[i])


def kornia_pipeline(views: list[ViewAugment], mean, std) -> list:
    """kornia.augmentation's equivalent of each view pipeline (one per view)."""
    import kornia.augmentation as K

    out = []
    for v in views:
        steps = [K.RandomResizedCrop((v.size, v.size), scale=v.crop_scale, ratio=v.crop_ratio),
                 K.RandomHorizontalFlip(p=v.hflip_prob),
                 K.ColorJitter(v.brightness, v.contrast, v.saturation, v.hue, p=v.jitter_prob),
                 K.RandomGrayscale(p=v.grayscale_prob)]
        if v.blur_prob > 0:
            steps.append(K.RandomGaussianBlur((v.blur_kernel_size,) * 2, v.blur_sigma, p=v.blur_prob))
        if v.solarize_prob > 0:
            steps.append(K.RandomSolarize(thresholds=0.0, additions=0.0, p=v.solarize_prob))
        steps.append(K.Normalize(torch.tensor(mean), torch.tensor(std)))
        out += [K.AugmentationSequential(*steps)] * v.num_views
    return out


# ---------------------------------------------------------------------- one row
def _peak_memory_gb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def fit_rate(cfg: Config, device: torch.device) -> float:
    """Images/s of ``sslkit fit`` (the recipe, every default callback) on synthetic data shaped as ``cfg``."""
    import os
    import tempfile

    from sslkit.callbacks import SpeedMonitor
    from sslkit.cli import SSLKitCLI

    recipe = cfg.recipe or str(ROOT / "recipes" / "pretrain" / "cifar10" / f"{cfg.method}.yaml")
    os.environ.setdefault("WANDB_MODE", "disabled")
    threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory() as root:
        out = Path(root) / "speed.json"
        monitor = {"class_path": "sslkit.callbacks.SpeedMonitor",
                   "init_args": {"warmup_steps": cfg.warmup, "every_n_steps": 10**9, "out": str(out)}}
        args = ["fit", "--config", recipe, f"--trainer.max_steps={cfg.warmup + cfg.steps}",
                f"--trainer.default_root_dir={root}", "--trainer.devices=1", "--wandb.mode=disabled", "--report=false",
                f"--trainer.accelerator={'gpu' if device.type == 'cuda' else 'cpu'}",
                f"--trainer.precision={'bf16-mixed' if cfg.bf16 else '32-true'}",
                f"--model.init_args.backbone={cfg.backbone}",
                f"--model.init_args.backbone_kwargs={json.dumps(cfg.backbone_kwargs)}",
                "--data.class_path=sslkit.data.SyntheticImageDataModule",
                f"--data.init_args.train_size={cfg.batch_size * (cfg.warmup + cfg.steps + 2)}",
                f"--data.init_args.image_size={cfg.size}", f"--data.init_args.batch_size={cfg.batch_size}",
                "--data.init_args.val_size=64", "--data.init_args.test_size=64", "--data.init_args.eval_batch_size=64",
                f"--data.init_args.num_workers={cfg.num_workers}", "--data.init_args.augment_on=device",
                f'--data.init_args.views=[{{"size": {cfg.size}, "num_views": 2, "blur_prob": {cfg.blur_prob}}}]',
                f"--trainer.callbacks+={json.dumps(monitor)}"]
        if device.type == "cpu":
            args.append("--trainer.sync_batchnorm=false")  # SyncBatchNorm refuses CPU modules (a recipe with strategy ddp)
        cli = SSLKitCLI(args=args)
        torch.set_num_threads(threads)  # as the other columns
        speed = next(c for c in cli.trainer.callbacks if isinstance(c, SpeedMonitor)).summary
    return float(speed["images_per_sec"] or float("nan"))


def run(cfg: Config, device: torch.device) -> dict:
    """Measure one configuration; returns the row (rates in images/s)."""
    torch.manual_seed(0)
    pin = device.type == "cuda"
    n_images = cfg.batch_size * (cfg.warmup + cfg.steps + 2)
    views = [ViewAugment(size=cfg.size, num_views=2, blur_prob=cfg.blur_prob)]
    common = dict(train_size=n_images, val_size=1, test_size=1, image_size=cfg.size, batch_size=cfg.batch_size,
                  views=views, num_workers=cfg.num_workers)
    dm = SyntheticImageDataModule(augment_on="device", **common)
    images = dm.splits()["train"][0].images
    mean, std = dm.mean, dm.std

    model = METHODS[cfg.method](backbone=cfg.backbone, backbone_kwargs=cfg.backbone_kwargs).to(device).train()
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if cfg.bf16 else contextlib.nullcontext
    augment = torch.compile(dm.augment_batch) if cfg.compile else dm.augment_batch
    losses: list[torch.Tensor] = []

    def step(views: list[torch.Tensor], labels: torch.Tensor) -> int:
        views = [v.contiguous(memory_format=memory_format) for v in views]
        with autocast():
            loss = model.training_step((views, labels), 0)["loss"]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.detach())
        return labels.shape[0]

    def to_device(batch):
        x, y = batch
        if isinstance(x, list):
            return [v.to(device, non_blocking=True) for v in x], y.to(device, non_blocking=True)
        return x.to(device, non_blocking=True), y.to(device, non_blocking=True)

    # pre-augmented views on the device for the compute-only column
    fixed = []
    for i in range(4):
        x = images[i * cfg.batch_size:(i + 1) * cfg.batch_size].to(device)
        fixed.append(([v.contiguous(memory_format=memory_format) for v in dm.augment_batch(x)],
                      torch.zeros(cfg.batch_size, dtype=torch.long, device=device)))

    def cycle(items):
        while True:
            yield from items

    def loader(ds, collate=None) -> Callable[[], DataLoader]:
        from sslkit.data.memory import collate as batched_collate

        return lambda: DataLoader(ds, batch_size=cfg.batch_size, shuffle=True, drop_last=True, pin_memory=pin,
                                  num_workers=cfg.num_workers, collate_fn=collate or batched_collate)

    def device_step(batch) -> int:
        x, y = to_device(batch)
        return step(augment(x), y)

    def plain_step(batch) -> int:
        return step(*to_device(batch))

    worker_dm = SyntheticImageDataModule(augment_on="worker", **common)
    worker_dm._splits = dm.splits()  # the same images
    hwc = images.permute(0, 2, 3, 1).contiguous().numpy()
    labels = np.zeros(len(images), dtype=np.int64)
    kornia = kornia_pipeline(views, mean, std) if "aug_kornia" in cfg.columns else None
    aug_batches = [images[i * cfg.batch_size:(i + 1) * cfg.batch_size].to(device) for i in range(4)]

    def kornia_step(x: torch.Tensor) -> int:
        xf = x.float() / 255
        for k in kornia:
            k(xf)
        return x.shape[0]

    def sslkit_aug_step(x: torch.Tensor) -> int:
        augment(x)
        return x.shape[0]

    def per_sample_step(batch) -> int:
        return batch[0].shape[0]

    fit_once: list[float] = []

    def fit_column() -> float:  # one CLI launch per row: the value is reused in later rounds
        if not fit_once:
            fit_once.append(fit_rate(cfg, device))
        return fit_once[0]

    measures: dict[str, Callable[[], float]] = {
        "fit": fit_column,
        "compute": lambda: _timed(device, cfg.warmup, cfg.steps, cycle(fixed), lambda b: step(*b)),
        "device": lambda: _timed(device, cfg.warmup, cfg.steps, _forever(lambda: dm.train_dataloader()), device_step),
        "worker": lambda: _timed(device, cfg.warmup, cfg.steps, _forever(lambda: worker_dm.train_dataloader()),
                                 plain_step),
        "peer": lambda: _timed(device, cfg.warmup, cfg.steps,
                               _forever(loader(PILViews(hwc, labels, views, mean, std), torch.utils.data.default_collate)),
                               plain_step),
        "aug_sslkit": lambda: _timed(device, 2, 2 * len(aug_batches), cycle(aug_batches), sslkit_aug_step),
        "aug_kornia": lambda: _timed(device, 2, 2 * len(aug_batches), cycle(aug_batches), kornia_step),
        "aug_per_sample": lambda: _timed(device, 1, 4,
                                         _forever(lambda: DataLoader(PerSampleViews(images, views, mean, std),
                                                                     batch_size=cfg.batch_size, drop_last=True,
                                                                     num_workers=cfg.num_workers)), per_sample_step),
    }
    flops = count_flops(lambda: step(*fixed[0])) / cfg.batch_size  # eager: the counter sees every aten op
    if cfg.compile:
        for child in model.children():
            child.compile()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for views_, labels_ in fixed[:2]:  # first steps of a fresh model run slow (allocator, kernel choice)
        step(views_, labels_)
    runs: list[dict[str, float]] = []
    for r in range(cfg.repeats):  # each repeat starts at another column: no column is always measured first
        k = r % len(cfg.columns)
        runs.append({})
        for name in cfg.columns[k:] + cfg.columns[:k]:
            start = time.perf_counter()
            runs[-1][name] = measures[name]()
            print(f"  {cfg.backbone} {name}: {runs[-1][name]:,.1f} images/s ({time.perf_counter() - start:.1f} s)",
                  file=sys.stderr, flush=True)

    # medians over the repeats; ratios taken within a repeat (measured minutes apart at most), then the median
    def median(values: list[float]) -> float:
        return float(np.median(values))

    rates = {name: median([run[name] for run in runs]) for name in cfg.columns}
    finite = bool(torch.isfinite(torch.stack(losses)).all())
    row = {"config": asdict(cfg), "device": _device_name(device), "flops_per_image": flops, "rates": rates,
           "runs": runs, "finite_loss": finite, "peak_memory_gb": _peak_memory_gb(device)}
    if "compute" in rates:
        row["efficiency"] = {k: median([run[k] / run["compute"] for run in runs])
                             for k in ("device", "fit", "worker", "peer") if k in rates}
    if "fit" in rates and "device" in rates:
        row["fit_over_device"] = median([run["fit"] / run["device"] for run in runs])
    if "device" in rates and "peer" in rates:
        row["device_over_peer"] = median([run["device"] / run["peer"] for run in runs])
    peak = peak_flops(device, cfg.bf16)
    row["tflops"] = {k: flops * rates[k] / 1e12 for k in ("compute", "device") if k in rates}
    row["mfu"] = {k: v * 1e12 / peak for k, v in row["tflops"].items()} if peak else None
    return row


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU, {torch.get_num_threads()} threads"


# ---------------------------------------------------------------------- output
def _fmt(x: float | None, digits: int = 0) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:,.{digits}f}"


def _rate(x: float | None) -> str:
    """Images/s with three significant digits below 100."""
    return _fmt(x, 0 if x is None or x >= 100 else 1 if x >= 10 else 2)


def markdown(rows: list[dict]) -> str:
    """The results as one markdown table, a row per configuration."""
    head = ["backbone", "px", "batch", "prec.", "compile", "GFLOP/img", "compute", "device", "fit", "worker", "peer",
            "eff. device", "eff. worker", "fit / device", "device / peer", "aug sslkit", "aug kornia", "aug per-sample",
            "TFLOP/s (device)", "MFU (compute)", "MFU (device)", "peak mem GB"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        c, rates, eff = r["config"], r["rates"], r.get("efficiency", {})
        name = c["backbone"] + (f" {json.dumps(c['backbone_kwargs'])}" if c["backbone_kwargs"] else "")
        mfu = r["mfu"] or {}
        cells = [f"`{name}`", str(c["size"]), str(c["batch_size"]), "bf16" if c["bf16"] else "fp32",
                 "on" if c["compile"] else "off", _fmt(r["flops_per_image"] / 1e9, 2),
                 *[_rate(rates.get(k)) for k in PIPELINES],
                 _fmt(eff.get("device"), 2), _fmt(eff.get("worker"), 2), _fmt(r.get("fit_over_device"), 2),
                 _fmt(r.get("device_over_peer"), 1) + ("x" if r.get("device_over_peer") else ""),
                 *[_rate(rates.get(k)) for k in AUGMENTS],
                 _fmt(r["tflops"].get("device"), 3),
                 *["-" if mfu.get(k) is None else f"{100 * mfu[k]:.1f}%" for k in ("compute", "device")],
                 _fmt(r["peak_memory_gb"], 2)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


QUICK = [  # CPU, about a minute on 2 cores: the model-bound case and a small model where augmentation matters
    Config(backbone="timm:resnet18", backbone_kwargs={"cifar_stem": True}, batch_size=4, steps=4, warmup=1,
           num_workers=2, repeats=3),
    Config(backbone="tiny_cnn", backbone_kwargs={"widths": [8, 16, 32]}, batch_size=64, steps=6, warmup=2,
           num_workers=2, repeats=3),
]


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="the CPU configuration (ResNet-18 and a small CNN at 32 px)")
    p.add_argument("--method", default="simclr", choices=sorted(METHODS))
    p.add_argument("--backbone", default="timm:resnet18")
    p.add_argument("--backbone-kwargs", type=json.loads, default={"cifar_stem": True}, help="JSON")
    p.add_argument("--size", type=int, default=32, help="image side (and view size)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--steps", type=int, default=20, help="timed steps per column")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps per column (compilation, worker start-up)")
    p.add_argument("--num-workers", type=int, default=4, help="DataLoader workers of every loader")
    p.add_argument("--repeats", type=int, default=1, help="rounds over the columns; medians are reported")
    p.add_argument("--blur-prob", type=float, default=0.0, help="Gaussian blur probability (ImageNet recipes: 0.5)")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--compile", action="store_true", help="torch.compile the model's modules and the augmentation")
    p.add_argument("--columns", default=",".join(PIPELINES + AUGMENTS), help="comma-separated subset")
    p.add_argument("--recipe", help="fit column: the recipe (default recipes/pretrain/cifar10/<method>.yaml)")
    p.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda, cuda:1, ...")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads of the main process (default: torch's; --quick: 1, so that the main process and "
                        "its 2 workers do not oversubscribe 2 cores)")
    p.add_argument("--json", help="also write the rows as JSON here")
    p.add_argument("--markdown", help="also write the table here")
    args = p.parse_args(argv)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          "cpu" if args.device == "auto" else args.device)
    threads = args.threads if args.threads is not None else (1 if args.quick else 0)
    if threads:
        torch.set_num_threads(threads)
    if device.type == "cuda" and not args.bf16:
        torch.backends.cuda.matmul.allow_tf32 = True  # MFU of fp32 runs is against the tf32 peak
    columns = tuple(c for c in args.columns.split(",") if c)
    unknown = set(columns) - set(PIPELINES + AUGMENTS)
    if unknown:
        p.error(f"unknown columns {sorted(unknown)}; choose from {', '.join(PIPELINES + AUGMENTS)}")
    if "aug_kornia" in columns:
        try:
            import kornia  # noqa: F401
        except ImportError:
            print("kornia is not installed (pip install -e '.[bench]'): no kornia column", file=sys.stderr)
            columns = tuple(c for c in columns if c != "aug_kornia")
    if args.quick:
        configs = [Config(**{**asdict(c), "columns": columns}) for c in QUICK]  # --repeats etc. are fixed
    else:
        configs = [Config(method=args.method, backbone=args.backbone, backbone_kwargs=args.backbone_kwargs,
                          size=args.size, batch_size=args.batch_size, steps=args.steps, warmup=args.warmup,
                          num_workers=args.num_workers, bf16=args.bf16, channels_last=args.channels_last,
                          compile=args.compile, blur_prob=args.blur_prob, repeats=args.repeats, columns=columns,
                          recipe=args.recipe)]
    rows = []
    for cfg in configs:
        start = time.perf_counter()
        rows.append(run(cfg, device))
        rows[-1]["seconds"] = time.perf_counter() - start
        print(f"measured {cfg.backbone} in {rows[-1]['seconds']:.0f} s", file=sys.stderr, flush=True)
    table = markdown(rows)
    print(f"device: {rows[0]['device']}; method {configs[0].method}; 2 views per image; rates in training images/s")
    print(table)
    if not all(r["finite_loss"] for r in rows):
        print("WARNING: a non-finite loss was seen", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    if args.markdown:
        Path(args.markdown).write_text(table + "\n")
    return rows


if __name__ == "__main__":
    main()
