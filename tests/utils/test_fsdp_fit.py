"""FSDP training (Lightning's ``FSDPStrategy`` as the FSDP recipes configure it) equals unsharded training.

A tiny BERT (``MaskedLM``, 2 ``BertLayer`` blocks, dropout off) trains 2 SGD steps on a fixed, pre-masked
batch of 8 sequences (3 masked tokens each) three ways, each in its own process tree:

* ``fsdp``: 2 CPU processes (gloo), the strategy built from the ``trainer.strategy`` block of
  ``recipes/pretrain/text/bert_base_mlm_fsdp.yaml`` (FULL_SHARD, each ``BertLayer`` its own FSDP unit and
  activation-checkpointed), 4 sequences per process;
* ``single``: one process, no strategy wrapper, the 8 sequences as one batch;
* ``half`` (the control): one process on rank 0's 4 sequences only (what a rank would learn without
  FSDP's gradient reduce-scatter).

The mean of the two ranks' losses equals the single-process loss at both steps, the consolidated
(full state dict) FSDP checkpoint holds the single-process weights, and the control differs in both.

Lightning refuses ``FSDPStrategy`` with ``accelerator="cpu"`` (``The strategy `fsdp` requires a GPU
accelerator, but received `accelerator='cpu'```, ``_check_strategy_and_fallback`` of the accelerator
connector); torch's FSDP itself runs on CPU with gloo. The check tests ``type(strategy) is
FSDPStrategy``, so the test runs the recipe's strategy object re-classed as a subclass that adds nothing.
The recipes' ``bf16-mixed`` is not tested here: Lightning's ``FSDPPrecision`` autocasts on ``"cuda"``
only, so the CPU runs are fp32 (``benchmarks/gpu_check.sh`` runs the recipes' precision on a GPU).

    python tests/utils/test_fsdp_fit.py OUT MODE      # MODE: fsdp | single | half (what the test launches)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "pretrain" / "text" / "bert_base_mlm_fsdp.yaml"
SEQS, LENGTH, MASKED = 16, 12, 3  # 2 steps of 8 sequences; every sequence has 3 masked tokens

pytestmark = pytest.mark.ddp


def batches() -> list[dict[str, torch.Tensor]]:
    """16 pre-masked sequences: random ids, 3 positions per row replaced by [MASK] (id 103) and labelled."""
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, 30000, (SEQS, LENGTH), generator=g)
    labels = torch.full_like(ids, -100)
    for row in range(SEQS):
        pos = torch.randperm(LENGTH - 2, generator=g)[:MASKED] + 1
        labels[row, pos] = ids[row, pos]
        ids[row, pos] = 103
    return [{"input_ids": ids[i], "attention_mask": torch.ones(LENGTH, dtype=torch.long),
             "token_type_ids": torch.zeros(LENGTH, dtype=torch.long), "labels": labels[i]} for i in range(SEQS)]


def recipe_strategy(recipe: Path = RECIPE):
    """An FSDP recipe's ``trainer.strategy`` block, instantiated as the CLI does (jsonargparse)."""
    import yaml
    from jsonargparse import ArgumentParser
    from lightning.pytorch.strategies import Strategy

    parser = ArgumentParser()
    parser.add_subclass_arguments(Strategy, "strategy")
    block = yaml.safe_load(recipe.read_text())["trainer"]["strategy"]
    return parser.instantiate(parser.parse_object({"strategy": block})).strategy


def main(out: Path, mode: str) -> None:
    """One run (see the module docstring); writes ``<mode>-rank<r>.json`` and ``<mode>.ckpt``."""
    import lightning.pytorch as pl
    from lightning.pytorch.strategies import FSDPStrategy
    from torch.utils.data import DataLoader, DistributedSampler

    from sslkit.methods import MaskedLM

    class CPUFSDPStrategy(FSDPStrategy):
        """FSDPStrategy passing Lightning's "FSDP needs a GPU" check (an exact type test), wrapping on the CPU."""

        def _setup_model(self, model):
            from torch.distributed.fsdp import FullyShardedDataParallel

            # Lightning's own call, with device_id="cpu" where it passes None (torch then asks for an accelerator);
            # Lightning then sees a wrapped model and adds activation checkpointing
            model = FullyShardedDataParallel(module=model, cpu_offload=self.cpu_offload,
                                             mixed_precision=self.mixed_precision_config,
                                             sharding_strategy=self.sharding_strategy, device_id=torch.device("cpu"),
                                             **self.kwargs)
            return super()._setup_model(model)

    torch.set_num_threads(1)
    pl.seed_everything(0)
    model = MaskedLM(backbone="bert", backbone_kwargs=dict(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, max_position_embeddings=32,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0),
        optimizer=lambda params: torch.optim.SGD(params, lr=0.5))
    data = batches()
    if mode == "half":
        data = [d for i, d in enumerate(data) if i % 2 == 0]  # rank 0's shard under DistributedSampler
    strategy, devices = "auto", 1
    if mode == "fsdp":
        strategy, devices = recipe_strategy(), 2
        strategy.__class__ = CPUFSDPStrategy
    losses: list[float] = []
    rows: list = []

    class Record(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            losses.append(float(outputs["loss"]))
            rows.append(batch["input_ids"][:, 0].tolist())

    trainer = pl.Trainer(accelerator="cpu", devices=devices, strategy=strategy, precision="32-true", max_steps=2,
                         logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0, callbacks=[Record()],
                         use_distributed_sampler=False)

    class Data(pl.LightningDataModule):
        def train_dataloader(self):  # in order: rank r gets sequences r, r + 2, ... (Lightning's own sampler shuffles)
            t = self.trainer
            sampler = DistributedSampler(data, t.world_size, t.global_rank, shuffle=False) if t.world_size > 1 else None
            return DataLoader(data, batch_size=4 if mode != "single" else 8, sampler=sampler)

    trainer.fit(model, datamodule=Data())
    record = {"losses": losses, "world_size": trainer.world_size, "rows": rows}
    if mode == "fsdp":
        from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import CheckpointWrapper
        from torch.distributed.fsdp import FullyShardedDataParallel

        wrapped = trainer.strategy.model
        record["fsdp_units"] = sum(isinstance(m, FullyShardedDataParallel) for m in wrapped.modules())
        record["checkpointed"] = sum(isinstance(m, CheckpointWrapper) for m in wrapped.modules())
        record["local_numel"] = sum(p.numel() for p in wrapped.parameters())  # the shard this rank holds
    else:
        record["total_numel"] = sum(p.numel() for p in model.parameters())  # tied weights once
    trainer.save_checkpoint(out / f"{mode}.ckpt")  # FSDP: the full state dict, gathered by every rank
    (out / f"{mode}-rank{trainer.global_rank}.json").write_text(json.dumps(record))


def _launch(out: Path, mode: str) -> None:
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "WANDB_MODE": "disabled"}
    try:
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), str(out), mode], cwd=out, env=env,
                              capture_output=True, text=True, timeout=420)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{mode} run did not finish in {e.timeout} s (a rank is waiting on a collective?)")
    assert proc.returncode == 0, proc.stderr[-4000:]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("fsdp_fit")
    for mode in ("fsdp", "single", "half"):
        _launch(out, mode)
    records = {p.stem: json.loads(p.read_text()) for p in out.glob("*-rank*.json")}
    return out, records


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=False)["state_dict"]


def test_recipe_strategy_shards_and_checkpoints_bert_layers(runs):
    _, rec = runs
    r0, r1 = rec["fsdp-rank0"], rec["fsdp-rank1"]
    assert r0["world_size"] == r1["world_size"] == 2
    assert r0["fsdp_units"] == 3  # the root and one per BertLayer (auto_wrap_policy)
    assert r0["checkpointed"] == 2  # both BertLayers recomputed in backward (activation_checkpointing_policy)
    # FULL_SHARD: each rank holds about half of the parameters, together all of them
    total = rec["single-rank0"]["total_numel"]
    assert max(r0["local_numel"], r1["local_numel"]) < 0.51 * total <= 0.51 * (r0["local_numel"] + r1["local_numel"])


def test_fsdp_loss_equals_single_process_loss(runs):
    _, rec = runs
    fsdp = torch.tensor([rec["fsdp-rank0"]["losses"], rec["fsdp-rank1"]["losses"]]).mean(0)
    single, half = torch.tensor(rec["single-rank0"]["losses"]), torch.tensor(rec["half-rank0"]["losses"])
    assert len(single) == len(fsdp) == 2 and single[1] < single[0]
    for step in range(2):  # the two ranks together saw the single process's batch, rank 0 the control's
        assert sorted(rec["fsdp-rank0"]["rows"][step] + rec["fsdp-rank1"]["rows"][step]) == sorted(
            rec["single-rank0"]["rows"][step])
        assert rec["fsdp-rank0"]["rows"][step] == rec["half-rank0"]["rows"][step]
    torch.testing.assert_close(fsdp, single, rtol=1e-5, atol=1e-6)
    assert abs(half[1] - single[1]) > 1e-3  # control: one rank's shard alone learns something else


def test_fsdp_weights_equal_single_process_weights(runs):
    out, _ = runs
    fsdp, single, half = (_weights(out / f"{m}.ckpt") for m in ("fsdp", "single", "half"))
    assert fsdp.keys() == single.keys()
    for key in single:
        torch.testing.assert_close(fsdp[key], single[key], rtol=1e-5, atol=1e-6, msg=key)
    moved = max((half[k] - single[k]).abs().max().item() for k in single)
    assert moved > 1e-4  # control: without the reduce-scatter of gradients the weights differ


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
