#!/usr/bin/env bash
# The CPU runs behind the field measurements (native scale, background training, the Ultralytics anchor), one
# after another, each resuming where it stopped: the experiment runner and Ultralytics continue from last.pt and
# the evaluation scripts skip what their results files already hold, so after an interruption run it again.
#
#   ULTRALYTICS_PYTHON=/path/to/ultralytics-venv/bin/python bash benchmarks/field_runs.sh
#
# Needs IRSTD-1K and NUDT-SIRST prepared under datasets/ (python -m fscfnet.data.prepare SRC --dst datasets/NAME).
# About 5 hours on 2 CPU cores: three 50-epoch FSCFNet runs (~75 min each), Ultralytics (~2 h), then scoring.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
ULPY=${ULTRALYTICS_PYTHON:?set ULTRALYTICS_PYTHON to the python of a virtual environment with ultralytics}
EXP=runs/experiments
common=(--epochs 50 --imgsz 320 --batch 16 --seeds 0 --workers 2 --device cpu)
bg_yaml=datasets/IRSTD-1K-background.yaml

# Target-free crops: of the test frames (the background test set), and of IRSTD-1K's training frames (background
# for training, kept out of the default IRSTD-1K config by a config of its own).
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

# FSCFNet, IRSTD-1K, 50 epochs, seed 0: resize (as irstd1k_320_50ep, now keeping its weights); native crops with
# no background at all; native crops with background crops and background frames at a quarter of each epoch.
$PY -m fscfnet.experiments --models fscfnet --data IRSTD-1K "${common[@]}" --name irstd1k_320_50ep_resize
$PY -m fscfnet.experiments --models fscfnet --data IRSTD-1K "${common[@]}" --set scale=native augment.background_crops=0 \
    --name irstd1k_320_50ep_native
$PY -m fscfnet.experiments --models fscfnet --data "$bg_yaml" "${common[@]}" --set scale=native \
    background_ratio=0.25 --name irstd1k_320_50ep_native_bg

# Ultralytics' YOLOv10-n on the same target images and 267 background frames (what a quarter of an epoch is).
ul=runs/ultralytics/irstd1k_bg
[ -f $ul/data.yaml ] || $PY benchmarks/ultralytics_anchor.py data --data IRSTD-1K \
    --background datasets/IRSTD-1K-bg-train/images --background-count 267 --out $ul
$ULPY benchmarks/ultralytics_anchor.py train $ul --epochs 50 --imgsz 320 --batch 16

# Scoring, every model at its last epoch: best.pt is the epoch of best *test* score (the benchmarks have no
# validation split), and Ultralytics' anchor has only its last epoch. last.pt's weights are its EMA, as best.pt's.
w() { echo "$EXP/$1/IRSTD-1K/fscfnet/seed0/weights/last.pt"; }  # the config's name is its folder's
resize=$(w irstd1k_320_50ep_resize)
native=$(w irstd1k_320_50ep_native)
native_bg=$(w irstd1k_320_50ep_native_bg)
$PY benchmarks/large_frames.py --models resize=$resize native=$native \
    --out benchmarks/results/large_frames_irstd1k_models.json
$PY benchmarks/background_eval.py --models resize=$resize native=$native native_bg=$native_bg \
    --ultralytics yolov10n_ultralytics=$ul/ul/weights/last.pt --ultralytics-python "$ULPY" \
    --targets IRSTD-1K --background datasets/background-test/data.yaml \
    --out benchmarks/results/background_irstd1k.json
