"""The IMDB recipe runs on a CSV of (text, label) reviews laid out like the converted IMDB files."""

import csv

import torch

from tests.conftest import ROOT

RECIPE = ROOT / "recipes/transfer/text/imdb_finetune_minilm.yaml"


def test_linear_decay_schedule_of_the_recipe():
    from sslkit.utils import WarmupCosineLR

    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=2e-5)
    sched = WarmupCosineLR(opt, warmup_epochs=1, decay="linear")
    sched.bind(total_steps=10, steps_per_epoch=2)
    assert [round(sched.factor(i), 6) for i in range(11)] == [0, 0.5, 1, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125, 0]


def test_imdb_recipe_fits_on_a_small_review_file(tmp_path, monkeypatch):
    """Not a benchmark: a file of templated sentences, only to run the recipe's path end to end."""
    from sslkit.cli import main

    monkeypatch.setenv("WANDB_MODE", "disabled")
    words = {"pos": ["great", "wonderful", "moving", "superb"], "neg": ["awful", "boring", "dull", "terrible"]}
    for split, n in (("train", 24), ("test", 8)):
        with open(tmp_path / f"{split}.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["text", "label"])
            for i in range(n):
                label = "pos" if i % 2 else "neg"
                w.writerow([f"The film was {words[label][i % 4]} from start to end, take {i}.", label])
    root = tmp_path / "runs"
    main(["fit", "--config", str(RECIPE), f"--data.init_args.source.init_args.path={tmp_path}",
          f"--trainer.default_root_dir={root}", "--trainer.max_epochs=1", "--trainer.limit_train_batches=2",
          "--trainer.limit_val_batches=1", "--trainer.accelerator=cpu", "--data.init_args.batch_size=4"])
    best = list(root.rglob("best.ckpt"))
    assert len(best) == 1
    ckpt = torch.load(best[0], map_location="cpu", weights_only=False)
    assert ckpt["hyper_parameters"]["strategy"] == "finetune"
    assert any("val/acc" in str(k) for k in ckpt["callbacks"])  # the checkpoint was chosen on val/acc
    sched = ckpt["lr_schedulers"][0]
    assert sched["decay"] == "linear" and sched["total_steps"] == 2 and sched["_last_lr"][0] < 2e-5
