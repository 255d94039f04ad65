#!/usr/bin/env bash
# The CPU runs behind the field measurements (native scale, background training, the Ultralytics anchor). Each step
# trains one model and scores it at once, so a step fits one work period and only its results files need to outlive
# the machine: the weights do not. Steps resume where they stopped (the experiment runner and Ultralytics continue
# from last.pt; the scoring scripts skip what their results files already hold for the same weights).
#
#   bash benchmarks/field_runs.sh resize native          # ~1 h each on 2 CPU cores (training ~55 min, scoring)
#   bash benchmarks/field_runs.sh native_bg              # ~1.5 h (a third more images per epoch)
#   ULTRALYTICS_PYTHON=/path/to/ultralytics-venv/bin/python bash benchmarks/field_runs.sh ultralytics   # ~2 h
#
# No step: all four in that order. Needs IRSTD-1K and NUDT-SIRST prepared under datasets/
# (python -m fscfnet.data.prepare ../shared/datasets/NAME --dst datasets/NAME).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
EXP=runs/experiments
RES=benchmarks/results
# Validation every 5 epochs (always at the last): native validation sees whole 512-px frames, and every model is
# scored at its last epoch anyway (best.pt is the epoch of best *test* score: the benchmarks have no validation split).
common=(--epochs 50 --imgsz 320 --batch 16 --seeds 0 --workers 2 --device cpu)
bg_yaml=datasets/IRSTD-1K-background.yaml
ul=runs/ultralytics/irstd1k_bg

# Target-free crops: of the test frames (the background test set), and of IRSTD-1K's training frames (background
# for training, kept out of the default IRSTD-1K config by a config of its own).
background_sets() {
  [ -f datasets/background-test/data.yaml ] || $PY benchmarks/background_crops.py --data IRSTD-1K NUDT-SIRST \
      --sizes 96 160 256 --per-frame 2 --out datasets/background-test
  [ -f datasets/IRSTD-1K-bg-train/data.yaml ] || $PY benchmarks/background_crops.py --data IRSTD-1K --split train \
      --sizes 128 192 256 --per-frame 1 --out datasets/IRSTD-1K-bg-train
  cat > "$bg_yaml" <<EOF
# IRSTD-1K with target-free crops of its own training frames as background (benchmarks/field_runs.sh)
path: $PWD/datasets/IRSTD-1K
train: img_idx/train_IRSTD-1K.txt
test: img_idx/test_IRSTD-1K.txt
names: [target]
background: [$PWD/datasets/IRSTD-1K-bg-train/images]
EOF
}

# FSCFNet, IRSTD-1K, 50 epochs, seed 0, one experiment folder per training policy; NAME DATA [KEY=VALUE ...].
train() {
  local name=$1 data=$2; shift 2
  $PY -m fscfnet.experiments --models fscfnet --data "$data" "${common[@]}" --set val_period=5 "$@" \
      --name "irstd1k_320_50ep_$name"
  mkdir -p "$RES/experiments"
  # The summary and each run's record (not its weights, plots or sample batches) into the results tree.
  tar -C "$EXP" --exclude weights --exclude '*.jpg' --exclude '*/seed*/*.png' -cf - "irstd1k_320_50ep_$name" |
      tar -C "$RES/experiments" -xf -
}

weights() { echo "$EXP/irstd1k_320_50ep_$1/IRSTD-1K/fscfnet/seed0/weights/last.pt"; }  # the config's name is its folder's

background_eval() {  # MODEL OPTIONS: one more model's row in the background results
  $PY benchmarks/background_eval.py --targets IRSTD-1K --background datasets/background-test/data.yaml \
      --out $RES/background_irstd1k.json "$@"
}

score() {  # NAME [large]: the background evaluation, and the large-frame modes where asked
  if [ "${2:-}" = large ]; then
    $PY benchmarks/large_frames.py --models "$1=$(weights "$1")" --out $RES/large_frames_irstd1k_models.json
  fi
  background_eval --models "$1=$(weights "$1")"
}

step() {
  case $1 in
    # resized frames (as irstd1k_320_50ep, now keeping its weights for scoring)
    resize) background_sets; train resize IRSTD-1K; score resize large ;;
    # native-scale crops without any background
    native) background_sets; train native IRSTD-1K scale=native augment.background_crops=0; score native large ;;
    # native-scale crops with background crops, and background frames at a quarter of each epoch
    native_bg) background_sets; train native_bg "$bg_yaml" scale=native background_ratio=0.25; score native_bg ;;
    # Ultralytics' YOLOv10-n on the same target images and 267 background frames (what a quarter of an epoch is)
    ultralytics)
      local ulpy=${ULTRALYTICS_PYTHON:?set ULTRALYTICS_PYTHON to the python of a virtual environment with ultralytics}
      background_sets
      [ -f $ul/data.yaml ] || $PY benchmarks/ultralytics_anchor.py data --data IRSTD-1K \
          --background datasets/IRSTD-1K-bg-train/images --background-count 267 --out $ul
      $ulpy benchmarks/ultralytics_anchor.py train $ul --epochs 50 --imgsz 320 --batch 16
      background_eval --ultralytics yolov10n_ultralytics=$ul/ul/weights/last.pt --ultralytics-python "$ulpy" ;;
    *) echo "field_runs.sh: unknown step '$1' (resize, native, native_bg or ultralytics)" >&2; exit 2 ;;
  esac
}

steps=("$@")
[ $# -gt 0 ] || steps=(resize native native_bg ultralytics)
for s in "${steps[@]}"; do step "$s"; done
