"""Parameter-efficient and partial fine-tuning of MiniLM-L6, measured: one table, 3 seeds.

Task: the embedded standard-library docstrings classified by package (8 classes,
``TextClassificationDataModule`` defaults, offline), ``--fraction`` of the 889
training texts, ``--max-length`` tokens, batch 16, ``--epochs`` epochs, AdamW with
a warm-up + cosine schedule, scored on the 297 test texts. Strategies: linear probe
(cached features), full fine-tuning, freezing the embeddings + bottom 3 of 6 layers,
layer-wise lr decay, LoRA, AdaLoRA (rank reallocation on), prefix tuning, IA3;
plus the joint objective ``0.3 * L_mlm + 0.7 * L_task`` and a causal LM (a tiny
GPT-2 pretrained here with ``recipes/pretrain/text/causal_lm.yaml``'s settings) taken
into a classifier with last-token pooling, against the same GPT-2 at random init.

Each run is a forked child process, so ``peak RSS`` is that run's own peak
(it includes the ~0.5-1 GB of the imported libraries and MiniLM itself).
``s/epoch`` is the mean wall time of a training epoch (validation excluded;
for ``linear`` the one-off feature extraction is excluded too).

    OMP_NUM_THREADS=1 WANDB_MODE=disabled PYTHONPATH=. nohup python benchmarks/text_peft.py \\
        --out benchmarks/results/text_peft_cpu > /tmp/text_peft.log 2>&1 &

Rows are appended to ``<out>.csv`` as they finish (every MiniLM row for the first
seed, then the causal-LM rows, then the other seeds, so a partial run still has
every row); ``<out>.md`` is rewritten after each row.
"""

from __future__ import annotations

import argparse
import csv
import functools
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sslkit.data import LabelledDataModule  # noqa: E402
from sslkit.data.text import TextClassificationDataModule  # noqa: E402
from sslkit.transfer import TransferClassifier  # noqa: E402
from sslkit.utils import WarmupCosineLR  # noqa: E402

QV = ["query", "value"]
# name -> (TransferClassifier arguments, learning rate)
CONFIGS: dict[str, tuple[dict, float]] = {
    "linear": ({"strategy": "linear"}, 1e-2),
    "finetune": ({"strategy": "finetune"}, 5e-5),
    "partial (bottom 3 frozen)": ({"strategy": "partial", "freeze_stages": 3}, 5e-5),
    "layer_decay (0.8)": ({"strategy": "layer_decay", "layer_decay": 0.8}, 1e-4),
    "lora (r=8, q,v)": ({"strategy": "lora", "adapter_kwargs": {"r": 8, "lora_alpha": 16, "target_modules": QV}}, 2e-3),
    "adalora (r 8->4, q,v)": ({"strategy": "adalora", "adapter_kwargs": {"init_r": 8, "target_r": 4,
                                                                          "target_modules": QV}}, 2e-3),
    "prefix_tuning (10 tokens)": ({"strategy": "prefix_tuning", "adapter_kwargs": {"num_virtual_tokens": 10}}, 1e-2),
    "ia3": ({"strategy": "ia3"}, 5e-3),
    "finetune + 0.3 MLM (joint)": ({"strategy": "finetune", "aux_mlm_weight": 0.3}, 5e-5),
}
GPT2 = {"hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 512,
        "tokenizer": "hf:minilm", "max_position_embeddings": 128}


class EpochTimer(L.Callback):
    """Wall time of each training epoch."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._t = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.times.append(time.perf_counter() - self._t)


def data(args, seed: int) -> tuple[TextClassificationDataModule, LabelledDataModule]:
    src = TextClassificationDataModule(tokenizer="hf:minilm", max_length=args.max_length)
    return src, LabelledDataModule(src, label_fraction=args.fraction, seed=seed, batch_size=16, eval_batch_size=64)


def fit_score(model_kwargs: dict, lr: float, args, seed: int) -> dict:
    """Train one classifier; test accuracy, trainable parameters, s/epoch, peak RSS."""
    torch.set_num_threads(1)
    src, dm = data(args, seed)
    kwargs = dict(model_kwargs)
    if kwargs.get("strategy") == "adalora":  # prune ranks during the middle 70% of training
        steps = args.epochs * (len(src.labelled_dataset("train", fraction=args.fraction, seed=seed)) // 16)
        kwargs["adapter_kwargs"] = {**kwargs["adapter_kwargs"], "total_step": steps, "tinit": steps // 10,
                                    "tfinal": steps // 5}
    kwargs.setdefault("backbone", "hf:minilm")
    L.seed_everything(seed, verbose=False)
    model = TransferClassifier(num_classes=src.num_classes, optimizer=functools.partial(torch.optim.AdamW, lr=lr,
                                                                                        weight_decay=0.01),
                               lr_scheduler=functools.partial(WarmupCosineLR, warmup_epochs=0.3), **kwargs)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    timer = EpochTimer()
    trainer = L.Trainer(max_epochs=args.epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                        limit_val_batches=0, callbacks=[timer])
    trainer.fit(model, datamodule=dm)
    acc = float(trainer.test(model, datamodule=dm, verbose=False)[0]["test/acc"])
    out = {"acc": acc, "trainable": trainable, "s_epoch": float(np.mean(timer.times)),
           "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if kwargs.get("strategy") == "adalora":
        from sslkit.transfer.adapters import adalora_ranks

        ranks = adalora_ranks(model.backbone)
        out["note"] = f"ranks after reallocation: {sorted(ranks.values())} (init 8 each, budget {4 * len(ranks)})"
    return out


def pretrain_causal_lm(path: Path, args) -> None:
    """A tiny GPT-2 trained on next-token prediction, with the settings of recipes/pretrain/text/causal_lm.yaml."""
    torch.set_num_threads(1)
    from sslkit.data import TextPretrainDataModule
    from sslkit.methods import CausalLM

    L.seed_everything(0, verbose=False)
    dm = TextPretrainDataModule(objective="causal", tokenizer="hf:minilm", block_size=64, batch_size=32,
                                eval_batch_size=128, max_length=32, bank_size=500,
                                max_val_blocks=128)
    model = CausalLM(backbone="gpt2", backbone_kwargs=GPT2, tie_embeddings=True,
                     optimizer=functools.partial(torch.optim.AdamW, lr=1e-3, weight_decay=0.01, betas=(0.9, 0.95)),
                     lr_scheduler=functools.partial(WarmupCosineLR, warmup_epochs=0.2, min_lr_factor=0.05))
    trainer = L.Trainer(max_epochs=args.lm_epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                        limit_val_batches=0)
    t = time.perf_counter()
    trainer.fit(model, datamodule=dm)
    trainer.save_checkpoint(str(path))
    print(f"causal LM pretrained in {time.perf_counter() - t:.0f} s, train/loss {trainer.callback_metrics}", flush=True)


def _child(queue, fn, *a) -> None:
    try:
        queue.put(fn(*a))
    except Exception as e:  # report, do not hang the parent
        queue.put({"error": f"{type(e).__name__}: {e}"})


def forked(fn, *a) -> dict:
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(q, fn, *a))
    p.start()
    out = q.get()
    p.join()
    return out


def write_table(rows: list[dict], out: Path, args) -> None:
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(r["row"], []).append(r)
    lines = [f"# MiniLM-L6 transfer strategies on the stdlib-docstring task (8 classes)\n",
             f"{args.fraction:.0%} of the 889 training texts, max_length {args.max_length}, batch 16, {args.epochs} "
             f"epochs, AdamW + warm-up/cosine; test accuracy on 297 texts, mean ± std over seeds. Machine: 2-core "
             f"CPU shared with other jobs (loaded), 1 torch thread; s/epoch is therefore noisy. Command:\n",
             "    OMP_NUM_THREADS=1 WANDB_MODE=disabled PYTHONPATH=. python benchmarks/text_peft.py "
             f"--fraction {args.fraction} --epochs {args.epochs} --max-length {args.max_length}\n",
             "| strategy | lr | trainable params | test acc (mean ± std) | seeds | s/epoch | peak RSS (MB) |",
             "|---|---|---|---|---|---|---|"]
    notes = []
    for name, rs in by.items():
        ok = [r for r in rs if "error" not in r]
        if not ok:
            lines.append(f"| {name} | | | error: {rs[0]['error'][:80]} | | | |")
            continue
        acc = np.array([r["acc"] for r in ok])
        lines.append(f"| {name} | {ok[0]['lr']:g} | {ok[0]['trainable']:,} | {acc.mean():.3f} ± {acc.std():.3f} | "
                     f"{len(ok)} | {np.mean([r['s_epoch'] for r in ok]):.1f} | "
                     f"{max(r['peak_rss_mb'] for r in ok):.0f} |")
        notes += [f"- {name}, seed {r['seed']}: {r['note']}" for r in ok if r.get("note")]
    out.with_suffix(".md").write_text("\n".join(lines + [""] + notes) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fraction", type=float, default=0.2)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--max-length", type=int, default=32)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--only", nargs="*", default=None, help="row names to run (default: all)")
    parser.add_argument("--lm-epochs", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/text_peft_cpu")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    ckpt = args.out.parent / "_causal_lm_tmp.ckpt"
    gpt = {"lr": 1e-3, "kw": {"backbone": "gpt2", "backbone_kwargs": {**GPT2}, "pooling": "last",
                              "strategy": "finetune"}}
    configs = {name: (kw, lr) for name, (kw, lr) in CONFIGS.items() if not args.only or name in args.only}
    causal = {"causal LM (tiny GPT-2, pretrained), last-token, finetune":
              ({"checkpoint": str(ckpt), "pooling": "last", "strategy": "finetune"}, gpt["lr"]),
              "same GPT-2, random init, last-token, finetune": (gpt["kw"], gpt["lr"])}
    # order: every MiniLM row once, then the causal-LM rows (all seeds), then the other seeds
    tasks = [(args.seeds[0], n, *c) for n, c in configs.items()]
    if not args.only or "causal" in args.only:
        tasks += [(s, n, *c) for s in args.seeds for n, c in causal.items()]
    tasks += [(s, n, *c) for s in args.seeds[1:] for n, c in configs.items()]
    with open(args.out.with_suffix(".csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, ["row", "seed", "lr", "acc", "trainable", "s_epoch", "peak_rss_mb", "note", "error"])
        writer.writeheader()
        for seed, name, kw, lr in tasks:
            if "checkpoint" in kw and not ckpt.exists():
                forked(pretrain_causal_lm, ckpt, args)
            t = time.perf_counter()
            r = {"row": name, "seed": seed, "lr": lr, **forked(fit_score, kw, lr, args, seed)}
            print(f"{name} seed {seed}: {r} ({time.perf_counter() - t:.0f} s)", flush=True)
            rows.append(r)
            writer.writerow(r)
            f.flush()
            write_table(rows, args.out, args)
    ckpt.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
