#!/usr/bin/env bash
# Self-supervised vs random-init backbones where transfer is hard (issue 22, part 3), on 2 CPU cores:
# pretrain SimCLR and DAE on each unlabelled pool with `sslkit compare` (seed 0, the step budget of the 30-epoch
# digits recipes), then the adaptation, multi-source and cross-domain tables with every backbone, copied to
# benchmarks/results/transfer_pretrained_cpu/. Resumable: finished pretrainings are skipped.
#   bash benchmarks/transfer_pretrained.sh            (about 90 min on an idle 2-core CPU)
set -euo pipefail
cd "$(dirname "$0")/.."
export WANDB_MODE=${WANDB_MODE:-disabled}
R=recipes/pretrain/digits
M="[$R/simclr.yaml,$R/dae.yaml]"
J=${JOBS:-1}
sslkit compare --out_dir runs/pools/clean --recipes "$M" --seeds "[0]" --jobs "$J" ${THREADS:+--threads $THREADS} --report false
for pool_epochs in clean_blurred:15 multi_source:10 multi_source_target:8 all_domains:5; do
  pool=${pool_epochs%%:*}; epochs=${pool_epochs##*:}
  sslkit compare --out_dir runs/pools/$pool --recipes "$M" --seeds "[0]" --jobs "$J" ${THREADS:+--threads $THREADS} --report false \
    --data recipes/data/digits_$pool.yaml --epochs "$epochs"
done
OUT=benchmarks/results/transfer_pretrained_cpu
mkdir -p $OUT
for pool in clean clean_blurred multi_source multi_source_target all_domains; do
  cp runs/pools/$pool/zoo.md $OUT/pool_$pool.md; cp runs/pools/$pool/zoo.json $OUT/pool_$pool.json
done
sslkit adapt --config recipes/transfer/digits/adaptation_pretrained.yaml
cp runs/adaptation-pretrained/results.csv $OUT/adaptation.csv; cp runs/adaptation-pretrained/results.md $OUT/adaptation.md
sslkit adapt --config recipes/transfer/digits/multi_source_pretrained.yaml
cp runs/multi-source-pretrained/results.csv $OUT/multi_source.csv; cp runs/multi-source-pretrained/results.md $OUT/multi_source.md
# the same two tables with the pretrained backbones at the full learning rate (the recipes' 0.1 x lr held them back)
sslkit adapt --config recipes/transfer/digits/adaptation_pretrained.yaml --backbone_lr_scale 1.0 --out_dir runs/adaptation-pretrained-lr1
cp runs/adaptation-pretrained-lr1/results.csv $OUT/adaptation_lr1.csv; cp runs/adaptation-pretrained-lr1/results.md $OUT/adaptation_lr1.md
sslkit adapt --config recipes/transfer/digits/multi_source_pretrained.yaml --backbone_lr_scale 1.0 --out_dir runs/multi-source-pretrained-lr1
cp runs/multi-source-pretrained-lr1/results.csv $OUT/multi_source_lr1.csv; cp runs/multi-source-pretrained-lr1/results.md $OUT/multi_source_lr1.md
sslkit cross-domain --config recipes/transfer/digits/cross_domain_pretrained.yaml
cp runs/cross-domain-pretrained/matrix.csv $OUT/cross_domain.csv; cp runs/cross-domain-pretrained/matrix.md $OUT/cross_domain.md
echo "wrote $OUT"
