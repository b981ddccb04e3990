#!/usr/bin/env bash
# Masked-image modelling on 16 px digits: what the papers use for small images, tried one change at a time
# (issue 22, part 2). Each line is one `sslkit compare` with --overrides on the recipe, seed 0 (a sweep, not a table:
# one seed's spread is about 2-4 points, see the 3-seed rows in the README). Results: runs/masked_sweep/<name>/zoo.md,
# collected into benchmarks/results/masked_sweep_cpu.md by the last step.
#   bash benchmarks/masked_sweep.sh        (about 40 min on an idle 2-core CPU; the lr lines are off: not run here)
set -euo pipefail
cd "$(dirname "$0")/.."
export WANDB_MODE=${WANDB_MODE:-disabled}
R=recipes/pretrain/digits
OUT=runs/masked_sweep
SEEDS=${SEEDS:-[0]}
VIT='"img_size": 16, "depth": 4, "embed_dim": 96, "num_heads": 3, "global_pool": "avg", "fc_norm": false'
run() {  # name recipe overrides... (passed to compare as a JSON list, so values may hold commas)
  local name=$1 recipe=$2; shift 2
  local ov; ov=$(python -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "$@")
  sslkit compare --out_dir $OUT/$name --recipes "[$R/$recipe.yaml]" --seeds "$SEEDS" --jobs 1 \
    ${THREADS:+--threads $THREADS} --report false --overrides "$ov"
}
# MAE (recipe: patch 4 = 16 patches, mask 0.5, lr 3e-3; its 3-seed row is in the README)
run mae_mask75 mae --model.init_args.mask_ratio=0.75
run mae_patch2_mask75 mae '--model.init_args.backbone_kwargs={"patch_size": 2, '"$VIT"'}' --model.init_args.mask_ratio=0.75
# run mae_lr1e-3 mae --model.init_args.optimizer.init_args.lr=0.001
# SimMIM (recipe: mask patch 4 = the ViT patch, mask 0.6). The paper masks 32 px patches of a 16 px-patch ViT.
run simmim_maskpatch8 simmim --model.init_args.mask_patch_size=8
# run simmim_lr1e-3 simmim --model.init_args.optimizer.init_args.lr=0.001
# data2vec (recipe: 2.0 targets). v1 vision: block outputs, no per-block norm, final layer norm.
run data2vec_v1 data2vec --model.init_args.target_norm=none --model.init_args.target_layer=block
# Longer pretraining (the recipes' 25 epochs are 250 steps)
run simmim_100ep simmim --trainer.max_epochs=100
run data2vec_100ep data2vec --trainer.max_epochs=100
python - "$OUT" <<'PY'
import csv, sys
from pathlib import Path
out = Path(sys.argv[1])
import datetime, json, os, platform
runs = sorted(d for d in out.iterdir() if (d / "zoo.json").is_file())
dates = sorted(json.loads((d / "zoo.json").read_text())["date"] for d in runs)
lines = ["# Masked-image modelling variants on 16 px digits (benchmarks/masked_sweep.sh)", "",
         f"Each row: one `sslkit compare` of the recipe with the overrides its name says (commands in "
         f"runs/masked_sweep/<run>/zoo.json), seed 0, 1 torch thread, {platform.system()} {platform.machine()} "
         f"{os.cpu_count()} cores shared with other jobs, {dates[0] if dates else '?'} to {dates[-1] if dates else '?'}. "
         "Accuracies in %; the recipe rows (3 seeds) are in the README's method table.", "",
         "| run | epochs | seeds | probe | kNN | 10% labels | at init | gain |", "|---|---|---|---|---|---|---|---|"]
for d in runs:
    f = d / "zoo.csv"
    for r in csv.DictReader(open(f)):
        c = lambda k: f"{float(r[k + '_mean']):.1f}" if r[k + "_mean"] else "–"
        lines.append(f"| {d.name} | {r['epochs']} | {r['seeds']} | {c('probe')} | {c('knn')} | {c('ssl')} | {c('init')} | "
                     f"{float(r['gain_mean']):+.1f} |")
text = "\n".join(lines) + "\n"
Path("benchmarks/results/masked_sweep_cpu.md").write_text(text)
print(text)
PY
