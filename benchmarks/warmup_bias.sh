#!/usr/bin/env bash
# The warmup question, with seeds: does the biases' warmup learning rate (warmup_bias_lr, default 0.1, which
# Ultralytics sets to 0 when `auto` picks AdamW) hold test AP50 at 0 through the first epochs?
# Trains YOLOv10-n on NUAA-SIRST (320 px, batch 16, `auto` optimizer) for EPOCHS epochs, seeds 0 1 2, once with the
# default and once with --set warmup_bias_lr=0.0, then tabulates AP50 by epoch per setting (benchmarks/early_epochs.py).
# Each arm is an experiments-runner grid, so rerunning this script resumes whatever was interrupted.
# Usage: bash benchmarks/warmup_bias.sh            (env: EPOCHS=20, DEVICE=cpu, WORKERS=2, PROJECT=runs/experiments)
# Needs datasets/NUAA-SIRST prepared (python -m fscfnet.data.prepare ../shared/datasets/NUAA-SIRST --dst ...).
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${EPOCHS:-20}
DEVICE=${DEVICE:-cpu}
WORKERS=${WORKERS:-2}
PROJECT=${PROJECT:-runs/experiments}
KEEP=benchmarks/results/experiments
common=(--models yolov10n --data NUAA-SIRST --epochs "$EPOCHS" --imgsz 320 --batch 16 --seeds 0 1 2
        --workers "$WORKERS" --device "$DEVICE" --project "$PROJECT")

declare -A extra=([default]="" [bias0]="--set warmup_bias_lr=0.0")
groups=()
for arm in default bias0; do
    name="warmup_nuaa_320_${EPOCHS}ep_${arm}"
    # shellcheck disable=SC2086  # the arm's extra arguments are meant to split
    python -m fscfnet.experiments "${common[@]}" --name "$name" ${extra[$arm]}
    runs=()
    for s in 0 1 2; do
        src="$PROJECT/$name/NUAA-SIRST/yolov10n/seed$s"
        dst="$KEEP/$name/NUAA-SIRST/yolov10n/seed$s"
        mkdir -p "$dst"
        cp "$src"/{done.json,results.csv,args.yaml} "$dst"/
        runs+=("$dst")
    done
    cp "$PROJECT/$name"/{results.md,results.json,comparison.svg} "$KEEP/$name"/
    groups+=(--group "warmup_bias_lr=$([ $arm = default ] && echo 0.1 || echo 0.0)" "${runs[@]}")
done

python benchmarks/early_epochs.py "${groups[@]}" --epochs 5 6 7 8 9 10 12 15 20 \
    --plot-epochs "$EPOCHS" --out "benchmarks/results/warmup_bias_nuaa_320_${EPOCHS}ep.json" \
    --plot "benchmarks/results/warmup_bias_nuaa_320_${EPOCHS}ep.svg"
