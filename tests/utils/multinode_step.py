"""One SimCLR training step on this process's share of a fixed global batch, under whatever launched it.

Usage::

    python tests/utils/multinode_step.py <out_dir> <num_nodes>

Started by ``torchrun --nnodes=2 --nproc_per_node=1 ...`` (Lightning's
``TorchElasticEnvironment``), with the variables ``srun`` sets (its
``SLURMEnvironment``), or alone with ``num_nodes`` 1 for the single-process
reference. Each process trains one step with ``Trainer(num_nodes=num_nodes,
devices=1)`` on ``GLOBAL // world_size`` images of the same 8-image global
batch (Lightning's distributed sampler deals them out) and saves
``<out_dir>/rank<r>.pt``: its loss, the weights after the step and what
Lightning saw (world size, node rank, cluster environment).

BatchNorm is replaced by identities: each process would normalise its own
half of the batch (``SyncBatchNorm`` needs a GPU), which is a different model
from the single-process one; everything else of SimCLR (NT-Xent with negatives
gathered from every node, DDP's gradient averaging) is under test.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

GLOBAL, SIZE = 8, 16


def build_model() -> nn.Module:
    """Seeded SimCLR with a tiny CNN, BatchNorm replaced by identities, plain SGD."""
    from sslkit.methods import SimCLR

    torch.manual_seed(0)
    model = SimCLR(backbone="tiny_cnn", backbone_kwargs={"widths": [4, 8]}, proj_hidden_dim=16, proj_output_dim=8,
                   temperature=0.5, optimizer=lambda params: torch.optim.SGD(params, lr=0.5))
    for module in list(model.modules()):
        for name, child in module.named_children():
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                setattr(module, name, nn.Identity())
    return model


def global_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return (torch.randn(GLOBAL, 3, SIZE, SIZE, generator=g), torch.randn(GLOBAL, 3, SIZE, SIZE, generator=g),
            torch.arange(GLOBAL))


def _collate(items):
    a, b, y = (torch.stack(t) for t in zip(*items))
    return [a, b], y


def main(out: Path, num_nodes: int) -> None:
    import lightning as L

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    world = int(os.environ.get("WORLD_SIZE") or os.environ.get("SLURM_NTASKS") or 1)
    model = build_model()
    record: dict = {}

    class Record(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            record["loss"] = outputs["loss"].detach().clone()

        def on_fit_end(self, trainer, pl_module):
            record.update(world_size=trainer.world_size, num_nodes=trainer.num_nodes, node_rank=trainer.node_rank,
                          global_rank=trainer.global_rank,
                          environment=type(getattr(trainer.strategy, "cluster_environment", None)).__name__,
                          weights={k: v.detach().clone() for k, v in pl_module.state_dict().items()})

    loader = DataLoader(TensorDataset(*global_batch()), batch_size=GLOBAL // world, collate_fn=_collate)
    trainer = L.Trainer(accelerator="cpu", devices=1, num_nodes=num_nodes, strategy="ddp" if world > 1 else "auto",
                        max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, callbacks=[Record()])
    trainer.fit(model, train_dataloaders=loader)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(record, out / f"rank{trainer.global_rank}.pt")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout's sslkit
    main(Path(sys.argv[1]), int(sys.argv[2]))
