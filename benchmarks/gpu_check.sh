#!/usr/bin/env bash
# GPU readiness in one script, at most 8 minutes on one GPU (H100/H200 class):
#   1. the GPU-marked tests (pytest -m gpu), and benchmarks/sync_audit.py (where a step waits for the GPU);
#   2. benchmarks/throughput.py for SimCLR ResNet-18 (CIFAR stem) at 32 px, batch 256, bf16, channels_last,
#      compile off: compute-only vs the device / worker / peer pipelines, kornia, MFU, memory;
#   3. 300 steps of every CIFAR-10 recipe (recipes/pretrain/cifar10/*.yaml) on synthetic CIFAR-shaped data:
#      finite falling loss, images/s, peak memory (SimCLR alone, then the others 5 at a time);
#   4. the throughput benchmark again with torch.compile on (model and augmentation).
# Each phase runs under `timeout`, cut to what is left of the 470 s budget (BUDGET_S; --cpu-dry-run: 3300 s and
# CPU-sized phase limits).
# Everything goes to ${OUT:-gpu_results}/: one log per phase and results.md (the tables).
#   bash benchmarks/gpu_check.sh
#   bash benchmarks/gpu_check.sh --cpu-dry-run   # the recipes phase on CPU, 2 steps each (prepares the GPU run)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-gpu_results}"
DRY=""; STEPS=100; WARMUP=20
# phase limits (s): GPU-sized; the CPU dry run gets CPU-sized ones (one sslkit fit launch takes 20-60 s on a
# loaded 2-core CPU: 16 CIFAR-10 + 8 ImageNet-100 recipes at up to 60 s each, plus imports)
LIM_ENV=45; LIM_AUDIT=60; LIM_C10=200; LIM_IN100=150; LIM_TEXT=120; PER_RECIPE=60; BUDGET="${BUDGET_S:-470}"
if [ "${1:-}" = "--cpu-dry-run" ]; then
  DRY="--cpu-dry-run --train-images 256"; STEPS=2; WARMUP=0; OUT="${OUT%gpu_results}cpu_dry_run"
  LIM_ENV=180; LIM_AUDIT=300; LIM_C10=1800; LIM_IN100=900; LIM_TEXT=400; PER_RECIPE=240; BUDGET="${BUDGET_S:-3300}"
fi
mkdir -p "$OUT"
rm -f "$OUT/summary.log"
export PYTHONUNBUFFERED=1 WANDB_MODE=disabled WANDB_SILENT=true LITDATA_DISABLE_VERSION_CHECK=1
PY="${PYTHON:-python}"
RESULTS="$OUT/results.md"
START=$(date +%s)
DEADLINE=$(( START + BUDGET ))  # every phase is cut to what is left of the 8 minutes (dry run: 55)
status=0

phase() {  # phase NAME SECONDS COMMAND...: run under a timeout, log to $OUT/NAME.log, note the outcome
  local name=$1 limit=$2; shift 2
  local t0=$(date +%s)
  local left=$(( DEADLINE - t0 ))
  if [ "$left" -lt 20 ]; then echo "$name: SKIPPED (time budget spent)" | tee -a "$OUT/summary.log"; status=1; return 0; fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "== $name (limit ${limit}s): $*" | tee -a "$OUT/summary.log"
  timeout --kill-after=10 "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  local msg="$name: exit $rc in $(( $(date +%s) - t0 ))s"
  [ $rc -eq 124 ] && msg="$msg (TIMED OUT)"
  echo "$msg" | tee -a "$OUT/summary.log"
  [ $rc -ne 0 ] && status=1
  return 0
}

# 0. set-up: install only when sslkit does not import (the machine may have no network: then bring wheels,
#    e.g. jsonargparse and kornia, on PYTHONPATH; litdata is imported only by the streaming DataModule)
if ! "$PY" -c "import sslkit.cli, sslkit.data, sslkit.methods" 2>/dev/null; then
  phase install 240 "$PY" -m pip install -e ".[dev]"
fi
phase environment "$LIM_ENV" "$PY" -c "
import torch, lightning, sslkit
print('torch', torch.__version__, 'cuda', torch.version.cuda, 'lightning', lightning.__version__)
print('device', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'NO CUDA DEVICE')
print('bf16', torch.cuda.is_available() and torch.cuda.is_bf16_supported())
"

if [ -z "$DRY" ]; then
# 1. GPU-marked tests
phase gpu_tests 60 "$PY" -m pytest -q -m gpu -p no:cacheprovider tests/transforms tests/data

# where a step waits for the GPU (diagnostic: source lines of synchronising calls)
phase sync_audit 45 "$PY" benchmarks/sync_audit.py --bare --bf16
phase sync_audit_fit 60 "$PY" benchmarks/sync_audit.py

# 2. throughput, compile off (compile on is phase 4)
BENCH=(benchmarks/throughput.py --backbone timm:resnet18 --backbone-kwargs '{"cifar_stem": true}' --size 32
       --batch-size 256 --bf16 --channels-last --steps 60 --warmup 10 --num-workers 8)
phase throughput_eager 90 "$PY" "${BENCH[@]}" --json "$OUT/throughput_eager.json" --markdown "$OUT/throughput_eager.md"
# per-step breakdown of sslkit fit against the bare loop (30 profiled steps)
phase profile_fit 60 "$PY" benchmarks/profile_fit.py --full-model --bf16 --batch-size 256 --steps 30 --warmup 10 \
  --trace "$OUT/fit_trace.json" --json "$OUT/profile_fit.json"
else
phase sync_audit_fit "$LIM_AUDIT" "$PY" benchmarks/sync_audit.py
fi

# 3. every GPU recipe, 100 steps each through sslkit fit, one after the other (all CIFAR-10 recipes on synthetic
#    CIFAR files; the ImageNet-100 and streaming recipes on synthetic data at their view size): images/s, peak
#    memory, finite loss. ImageNet-100 includes mae_fsdp.yaml (FSDPStrategy on one GPU: wrapping, activation
#    checkpointing, bf16 FSDP precision; the dry run replaces the strategy, Lightning's FSDP needs a GPU). The BERT-base
#    recipes (MLM+NSP under DDP, MLM under FSDP) train on the text DataModule's embedded corpus (pydoc topics); the
#    other text recipes are small CPU-sized ones, left out.
GPU_RECIPES=$(ls recipes/pretrain/cifar10/*.yaml)
IN100_RECIPES=$(ls recipes/pretrain/imagenet100/*.yaml)
# shellcheck disable=SC2086
phase recipes_cifar10 "$LIM_C10" "$PY" benchmarks/recipe_smoke.py --out "$OUT/recipes_cifar10" --steps "$STEPS" --warmup "$WARMUP" \
  --timeout "$PER_RECIPE" $DRY $GPU_RECIPES
# shellcheck disable=SC2086
phase recipes_imagenet100 "$LIM_IN100" "$PY" benchmarks/recipe_smoke.py --out "$OUT/recipes_imagenet100" --synthetic --steps "$STEPS" \
  --warmup "$WARMUP" --timeout "$PER_RECIPE" ${DRY:---train-images 2048} $IN100_RECIPES

# shellcheck disable=SC2086
phase recipes_text "$LIM_TEXT" "$PY" benchmarks/recipe_smoke.py --out "$OUT/recipes_text" --synthetic --steps "$STEPS" \
  --warmup "$WARMUP" --timeout "$PER_RECIPE" $DRY recipes/pretrain/text/bert_base_mlm_fsdp.yaml \
  recipes/pretrain/text/bert_base_mlm_nsp.yaml

# 4. compile on last: the longest and least essential phase gets what is left of the budget
[ -z "$DRY" ] && phase throughput_compile 150 "$PY" "${BENCH[@]}" --compile --warmup 15 --columns compute,device,aug_sslkit \
  --json "$OUT/throughput_compile.json" --markdown "$OUT/throughput_compile.md"

# results.md
{
  echo "# GPU check ($(date -u +%Y-%m-%dT%H:%MZ), $(( $(date +%s) - START )) s)"
  echo
  echo '```'; cat "$OUT/environment.log" 2>/dev/null; cat "$OUT/summary.log"; echo '```'
  echo
  echo "## GPU tests"; echo '```'; tail -5 "$OUT/gpu_tests.log" 2>/dev/null; echo '```'
  echo
  echo "## Synchronising calls in a SimCLR step (device path)"; echo '```'; tail -15 "$OUT/sync_audit.log" 2>/dev/null; echo '```'
  echo
  echo "## Throughput, SimCLR ResNet-18 32 px batch 256 bf16 channels_last (training images/s)"
  echo; echo "compile off:"; echo; cat "$OUT/throughput_eager.md" 2>/dev/null || echo "(missing)"
  echo; echo "compile on:"; echo; cat "$OUT/throughput_compile.md" 2>/dev/null || echo "(missing)"
  echo
  echo "## Per-step profile of sslkit fit vs the bare loop"; echo '```'; tail -40 "$OUT/profile_fit.log" 2>/dev/null; echo '```'
  echo "## Synchronising calls per step of sslkit fit (CPU count)"; echo '```'; head -20 "$OUT/sync_audit_fit.log" 2>/dev/null; echo '```'
  echo "## GPU recipes, $STEPS steps each on synthetic data (sslkit fit, SpeedMonitor)${DRY:+ -- CPU DRY RUN: small backbones, no speed meaning}"
  echo; cat "$OUT/recipes_cifar10/recipes.md" 2>/dev/null || echo "(missing)"
  echo; cat "$OUT/recipes_imagenet100/recipes.md" 2>/dev/null || echo "(missing)"
  echo; echo "Text (images/s: sequences/s):"; echo; cat "$OUT/recipes_text/recipes.md" 2>/dev/null || echo "(missing)"
} > "$RESULTS"
echo "total $(( $(date +%s) - START )) s; exit $status; results in $RESULTS"
exit $status
