"""Two "nodes" of one CPU process each on localhost, launched as torchrun and as SLURM's srun launch them.

``tests/utils/multinode_step.py`` trains one SimCLR step with
``Trainer(num_nodes=2, devices=1)`` on each node's half of a fixed 8-image
batch. Checked against the same step in one process on the whole batch:

* Lightning found the launcher's environment (``TorchElasticEnvironment`` /
  ``SLURMEnvironment``), 2 nodes, node ranks 0 and 1, world size 2;
* the mean of the two nodes' losses equals the single-process loss (NT-Xent
  gathers the other node's negatives);
* both nodes end the step with the single-process weights (DDP averages the
  gradients across nodes), and the step moved them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import ROOT
from tests.utils.test_ddp_equivalence import _free_port

STEP = ROOT / "tests" / "utils" / "multinode_step.py"
NODES = 2


def _env(**extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "TORCHELASTIC_", "WANDB_SERVICE"))
            and k not in ("MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK", "LOCAL_RANK")}
    return keep | {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)} | extra


def _launch(commands: list[tuple[list[str], dict[str, str]]]) -> None:
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for cmd, env in commands]
    try:
        outs = [p.communicate(timeout=240)[0] for p in procs]
    except subprocess.TimeoutExpired:
        for p in procs:
            p.kill()
        pytest.fail("a node did not finish in 240 s (waiting on the other one?)")
    for p, out in zip(procs, outs):
        assert p.returncode == 0, out[-4000:]


def _torchrun(out: Path) -> None:
    port = _free_port()
    _launch([([sys.executable, "-m", "torch.distributed.run", f"--nnodes={NODES}", "--nproc_per_node=1",
               f"--node_rank={node}", "--master_addr=127.0.0.1", f"--master_port={port}", str(STEP), str(out),
               str(NODES)], _env()) for node in range(NODES)])


def _srun(out: Path) -> None:
    """What ``srun`` does for ``--nodes=2 --ntasks-per-node=1``: one task per node with SLURM's variables."""
    port = str(_free_port())
    _launch([([sys.executable, str(STEP), str(out), str(NODES)],
              _env(SLURM_NTASKS=str(NODES), SLURM_NTASKS_PER_NODE="1", SLURM_NNODES=str(NODES), SLURM_PROCID=str(node),
                   SLURM_LOCALID="0", SLURM_NODEID=str(node), SLURM_JOB_ID="4242", SLURM_JOB_NAME="sslkit",
                   SLURM_NODELIST="127.0.0.1", MASTER_ADDR="127.0.0.1", MASTER_PORT=port))
             for node in range(NODES)])


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """The single-process step on the whole batch."""
    from tests.utils.multinode_step import main

    out = tmp_path_factory.mktemp("single")
    main(out, 1)
    return torch.load(out / "rank0.pt")


@pytest.mark.ddp
@pytest.mark.parametrize("launcher", ["torchrun", "slurm"])
def test_two_nodes_equal_one_process_on_the_global_batch(launcher, reference, tmp_path):
    from tests.utils.multinode_step import build_model

    {"torchrun": _torchrun, "slurm": _srun}[launcher](tmp_path)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(NODES)]
    environment = {"torchrun": "TorchElasticEnvironment", "slurm": "SLURMEnvironment"}[launcher]
    assert [(r["environment"], r["num_nodes"], r["world_size"]) for r in ranks] == [(environment, NODES, NODES)] * NODES
    assert sorted((r["node_rank"], r["global_rank"]) for r in ranks) == [(0, 0), (1, 1)]
    torch.testing.assert_close(torch.stack([r["loss"] for r in ranks]).mean(), reference["loss"], rtol=1e-5, atol=1e-6)
    initial = build_model().state_dict()
    for r in ranks:
        for name, w in reference["weights"].items():
            torch.testing.assert_close(r["weights"][name], w, rtol=1e-4, atol=1e-6, msg=name)
    assert any(not torch.equal(initial[k], reference["weights"][k]) for k in initial)  # the step moved the weights
