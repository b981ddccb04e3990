"""Run recipes for a few hundred steps on synthetic CIFAR-shaped data: finite falling loss, images/s, memory.

Writes CIFAR-10 in its official python format (uniform noise, random labels)
under ``<out>/data``, then runs ``sslkit fit`` on every recipe given, each in
its own process with only the data root, ``max_steps`` and the device count
overridden, plus :class:`sslkit.callbacks.SpeedMonitor` (no per-step device
sync). Prints and writes ``<out>/recipes.md``: images/s after the warm-up,
peak CUDA memory, mean loss of the first and last 20 steps. Exit status 1 if
a run failed or its loss was not finite or did not fall.

    python benchmarks/recipe_smoke.py --out gpu_results/recipes recipes/pretrain/cifar10/*.yaml [-- sslkit fit options]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def write_cifar10(root: Path, train_images: int, test_images: int, seed: int = 0) -> Path:
    """Noise images in CIFAR-10's python layout (``root/cifar-10-batches-py``), read by torchvision's reader."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    per_file = train_images // 5
    files = [(f"data_batch_{i}", per_file) for i in range(1, 6)] + [("test_batch", test_images)]
    for name, n in files:
        data = rng.integers(0, 256, (n, 3 * 32 * 32), dtype=np.uint8)
        with open(folder / name, "wb") as f:
            pickle.dump({"data": data, "labels": rng.integers(0, 10, n).tolist()}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"class{i}" for i in range(10)]}, f)
    return root


def synthetic_args(recipe: Path, train_images: int, cpu: bool) -> list[str]:
    """Overrides putting any image recipe on synthetic data at its largest view size (``--synthetic``);
    with ``cpu``, a CPU smoke run (fp32, no SyncBatchNorm, a small backbone, batch 8)."""
    import yaml

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from sync_audit import small_model, synthetic_data

    config = yaml.safe_load(recipe.read_text())
    if "Text" in str((config.get("data") or {}).get("class_path", "")):  # text recipes: the embedded default corpus
        return text_args(config, cpu)
    views = ((config.get("data") or {}).get("init_args") or {}).get("views") or [{}]
    size = max(int(v.get("size", 32)) for v in views)
    args = [*synthetic_data(recipe), f"--data.init_args.image_size={size}", f"--data.init_args.train_size={train_images}",
            "--data.init_args.val_size=64", "--data.init_args.test_size=64"]
    if cpu:
        # strategy auto: one CPU process (Lightning's FSDPStrategy refuses accelerator=cpu; the FSDP recipes run
        # their strategy on a GPU, and on 2 CPU processes in tests/utils/test_fsdp_fit.py)
        args += ["--trainer.accelerator=cpu", "--trainer.strategy=auto", "--trainer.precision=32-true",
                 "--trainer.sync_batchnorm=false",
                 "--data.init_args.batch_size=8", "--data.init_args.eval_batch_size=16", "--data.init_args.num_workers=0",
                 *small_model(recipe)]
    return args


def text_args(config: dict, cpu: bool) -> list[str]:
    """Overrides for a text recipe: the DataModule's default corpus (``pydoc_data.topics``, offline); with
    ``cpu``, a 2-layer 64-wide model of the recipe's kind, batch 4, blocks of 128 tokens."""
    args = ["--data.init_args.corpus=null"]
    if cpu:
        kwargs = dict(((config.get("model") or {}).get("init_args") or {}).get("backbone_kwargs") or {})
        kwargs.update(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128)
        args += ["--trainer.accelerator=cpu", "--trainer.strategy=auto", "--trainer.precision=32-true",
                 f"--model.init_args.backbone_kwargs={json.dumps(kwargs)}", "--data.init_args.batch_size=4",
                 "--data.init_args.eval_batch_size=16", "--data.init_args.num_workers=0",
                 "--data.init_args.block_size=128"]
    return args


def run_recipe(recipe: Path, data: Path | None, out: Path, steps: int, warmup: int, timeout: int, extra: list[str],
               dry_run: bool = False) -> dict:
    """One ``sslkit fit`` of ``recipe``; the SpeedMonitor summary plus status, wall time and the log's tail."""
    name = recipe.stem
    run_dir = out / name
    run_dir.mkdir(parents=True, exist_ok=True)
    speed = run_dir / "speed.json"
    monitor = {"class_path": "sslkit.callbacks.SpeedMonitor",
               "init_args": {"warmup_steps": warmup, "every_n_steps": 50, "out": str(speed)}}
    data_args = [f"--data.init_args.root={data}"] if data is not None else []
    cmd = [sys.executable, "-m", "sslkit.cli", "fit", "--config", str(recipe), *data_args,
           f"--trainer.max_steps={steps}", f"--trainer.default_root_dir={run_dir}", "--trainer.devices=1",
           "--trainer.enable_progress_bar=false", "--wandb.mode=disabled", f"--trainer.callbacks+={json.dumps(monitor)}",
           *extra]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "WANDB_MODE": "disabled"}
    start = time.perf_counter()
    with open(run_dir / "log.txt", "w") as log:
        try:
            code = subprocess.run(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            code = "timeout"
    row = {"recipe": name, "exit": code, "seconds": time.perf_counter() - start}
    if speed.is_file():
        row.update(json.loads(speed.read_text()))
    row["tail"] = (run_dir / "log.txt").read_text()[-1500:]
    falling = row.get("loss_first") is not None and row.get("loss_last") is not None and row["loss_last"] < row["loss_first"]
    problems = [f"exit {code}"] if code != 0 else []
    problems += [] if row.get("loss_finite") else ["non-finite loss"]
    problems += [] if falling or dry_run else ["loss not falling"]
    row["ok"], row["problems"] = not problems, problems
    return row


def markdown(rows: list[dict]) -> str:
    head = "| recipe | status | steps | images/s | peak mem GB | loss: first 20 steps -> last 20 | finite | wall s |"
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ips = f"{r['images_per_sec']:,.0f}" if r.get("images_per_sec") else "-"
        mem = f"{r['peak_memory_gb']:.2f}" if r.get("peak_memory_gb") is not None else "-"
        loss = (f"{r['loss_first']:.3f} -> {r['loss_last']:.3f}" if r.get("loss_first") is not None else "-")
        status = "ok" if r["ok"] else "FAIL: " + ", ".join(r["problems"])
        lines.append(f"| {r['recipe']} | {status} | {r.get('steps', '-')} | {ips} | {mem} | {loss} | "
                     f"{r.get('loss_finite', '-')} | {r['seconds']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("recipes", nargs="+", type=Path)
    p.add_argument("--out", type=Path, default=Path("gpu_results/recipes"))
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--warmup", type=int, default=50, help="steps left out of images/s")
    p.add_argument("--train-images", type=int, default=10000, help="synthetic training images (CIFAR-10: 50,000)")
    p.add_argument("--test-images", type=int, default=2000)
    p.add_argument("--jobs", type=int, default=1, help="recipes run at once (images/s is then shared)")
    p.add_argument("--timeout", type=int, default=240, help="seconds per recipe")
    p.add_argument("--synthetic", action="store_true",
                   help="any image recipe (ImageNet-100, streaming): synthetic data at the recipe's view size")
    p.add_argument("--cpu-dry-run", action="store_true",
                   help="CPU, small backbone, batch 8 (use with --steps 2 --warmup 0): checks the runs start and step")
    argv = sys.argv[1:] if argv is None else list(argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []  # after "--": options of every sslkit fit
    args = p.parse_args(argv[:len(argv) - len(extra) - (1 if "--" in argv else 0)])
    synthetic = args.synthetic or args.cpu_dry_run
    data = None if synthetic else write_cifar10(args.out / "data", args.train_images, args.test_images)

    def one(r: Path) -> dict:
        more = synthetic_args(r, args.train_images, args.cpu_dry_run) if synthetic else []
        return run_recipe(r.resolve(), data, args.out.resolve(), args.steps, args.warmup, args.timeout, more + extra,
                          args.cpu_dry_run)

    with ThreadPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(one, args.recipes))
    table = markdown(rows)
    note = "" if args.jobs == 1 else f"\n\n{args.jobs} recipes ran at once on one device: images/s is shared, indicative only."
    print(table + note)
    (args.out / "recipes.md").write_text(table + note + "\n")
    (args.out / "recipes.json").write_text(json.dumps(rows, indent=1))
    for r in rows:
        if not r["ok"]:
            print(f"\n--- {r['recipe']} (exit {r['exit']}) log tail:\n{r['tail']}", file=sys.stderr)
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
