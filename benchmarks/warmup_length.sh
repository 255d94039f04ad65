#!/usr/bin/env bash
# Does AP50 leave 0 when the warmup ends, or after about 100 iterations whatever the warmup?
# Trains YOLOv10-n on NUAA-SIRST (320 px, batch 16, 20-epoch schedule, seeds 0 1 2) with --set warmup_epochs=12
# (12 x 14 batches = 168 iterations, ending with epoch 12, against the default's 100, ending in epoch 8) and stops
# each run after STOP epochs: epochs 1..STOP follow the same schedule as a full 20-epoch run. Then tabulates AP50 by
# epoch against the default arm of benchmarks/warmup_bias.sh (same recipe, warmup_epochs 3).
# Usage: bash benchmarks/warmup_length.sh     (env: STOP=14, DEVICE=cpu, WORKERS=2, PROJECT=runs/warmup_length)
set -euo pipefail
cd "$(dirname "$0")/.."
STOP=${STOP:-14}
DEVICE=${DEVICE:-cpu}
WORKERS=${WORKERS:-2}
PROJECT=${PROJECT:-runs/warmup_length}
KEEP=benchmarks/results/experiments/warmup_nuaa_320_20ep_warmup12
epochs_done() { [ -f "$1/results.csv" ] && echo $(($(wc -l < "$1/results.csv") - 1)) || echo 0; }
runs=()
for s in 0 1 2; do
    run="$PROJECT/seed$s"
    if [ "$(epochs_done "$run")" -lt "$STOP" ]; then
        rm -rf "$run"
        python train.py --model cfg/models/yolov10n.yaml --data NUAA-SIRST --imgsz 320 --epochs 20 --batch 16 \
            --seed "$s" --workers "$WORKERS" --device "$DEVICE" --project "$PROJECT" --name "seed$s" \
            --set warmup_epochs=12 > "$PROJECT.seed$s.log" 2>&1 &
        pid=$!
        until [ "$(epochs_done "$run")" -ge "$STOP" ]; do
            kill -0 "$pid" 2>/dev/null || { echo "seed $s: train.py ended early, see $PROJECT.seed$s.log" >&2; exit 1; }
            sleep 5
        done
        kill "$pid"; wait "$pid" || true
    fi
    mkdir -p "$KEEP/seed$s"
    head -n $((STOP + 1)) "$run/results.csv" > "$KEEP/seed$s/results.csv"
    cp "$run/args.yaml" "$KEEP/seed$s/"
    runs+=("$KEEP/seed$s")
done
python benchmarks/early_epochs.py \
    --group warmup_epochs=3 benchmarks/results/experiments/warmup_nuaa_320_20ep_default/NUAA-SIRST/yolov10n/seed{0,1,2} \
    --group warmup_epochs=12 "${runs[@]}" --epochs 7 8 9 10 11 12 13 14 --plot-epochs "$STOP" \
    --out benchmarks/results/warmup_length_nuaa_320.json --plot benchmarks/results/warmup_length_nuaa_320.svg
