#!/usr/bin/env bash
# The CPU runs behind the Drone-IR results: FSCFNet and the project's YOLOv10-n trained on the training videos
# (every 10th frame, 6,761 frames), Ultralytics' YOLOv10-n trained by Ultralytics on the same frames and budget,
# then all three scored on every frame of the 71 test videos by benchmarks/video_eval.py. Each step resumes where
# it stopped (the experiment runner and Ultralytics continue from last.pt; video_eval skips models it has scored).
#
#   bash benchmarks/drone_ir_runs.sh fscfnet yolov10n            # ~2.5 h each on 2 CPU cores
#   ULTRALYTICS_PYTHON=/path/to/ultralytics-venv/bin/python bash benchmarks/drone_ir_runs.sh ultralytics score track
#
# score: every model trained so far (a model already in the results file is skipped, so it can run after each
# training), on the test frames and on target-free crops of every 30th test frame (false alarms per crop);
# track: this project's tracker (defaults, 2 of 3, evidence of motion) against ByteTrack, BoT-SORT and norfair
# on each scored model's detections of every test frame (track_drone_ir.json for FSCFNet, _NAME for the others).
#
# Needs Drone-IR prepared: fscfnet prepare ../shared/datasets/Drone-IR --dst datasets/Drone-IR --every 10
# The budget: 12 epochs at 320 px, batch 16, seed 0, mosaic off for the last 3 epochs (both frameworks), validation
# only after the last epoch (22,261 test frames); best.pt is then the last epoch, chosen on nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
EXP=runs/experiments/droneir_320_12ep
RES=benchmarks/results
ul=runs/ultralytics/droneir

train() {  # MODELS...: the experiment runner (a finished model is skipped)
  $PY -m fscfnet.experiments --models "$@" --data Drone-IR --epochs 12 --imgsz 320 --batch 16 --seeds 0 \
      --workers 2 --device cpu --set val_period=12 close_mosaic=3 --name droneir_320_12ep
  mkdir -p "$RES/experiments"
  tar -C runs/experiments --exclude weights --exclude '*.jpg' --exclude '*/seed*/*.png' -cf - droneir_320_12ep |
      tar -C "$RES/experiments" -xf -
}

weights() { echo "$EXP/Drone-IR/$1/seed0/weights/last.pt"; }

step() {
  case $1 in
    fscfnet) train fscfnet ;;
    yolov10n) train fscfnet yolov10n ;;
    ultralytics)
      local ulpy=${ULTRALYTICS_PYTHON:?set ULTRALYTICS_PYTHON to the python of a virtual environment with ultralytics}
      [ -f $ul/data.yaml ] || $PY benchmarks/ultralytics_anchor.py data --data Drone-IR --out $ul
      $ulpy benchmarks/ultralytics_anchor.py train $ul --epochs 12 --imgsz 320 --batch 16 --close-mosaic 3 ;;
    score)
      local ulpy=${ULTRALYTICS_PYTHON:?set ULTRALYTICS_PYTHON to the python of a virtual environment with ultralytics}
      local models=() theirs=()
      [ -f datasets/bg-test-Drone-IR/data.yaml ] || $PY benchmarks/background_crops.py --data Drone-IR --split test \
          --every 30 --sizes 96 160 --per-frame 1 --out datasets/bg-test-Drone-IR
      for m in fscfnet yolov10n; do [ -f "$EXP/Drone-IR/$m/seed0/done.json" ] && models+=("$m=$(weights $m)"); done
      [ -f $ul/ul/weights/last.pt ] && [ -f $ul/ul/results.csv ] && \
          [ "$(tail -n +2 $ul/ul/results.csv | wc -l)" -ge 12 ] && theirs+=(--ultralytics "yolov10n_ultralytics=$ul/ul/weights/last.pt")
      $PY benchmarks/video_eval.py --data Drone-IR --models "${models[@]}" "${theirs[@]}" --ultralytics-python "$ulpy" \
          --background datasets/bg-test-Drone-IR/data.yaml --keep-predictions runs/track_eval/droneir \
          --out $RES/drone_ir.json ;;
    track)  # each scored model's detections (the FSCFNet file keeps its first name)
      local ulpy=${ULTRALYTICS_PYTHON:?set ULTRALYTICS_PYTHON to the python of a virtual environment with ultralytics}
      for pred in runs/track_eval/droneir/*/predictions.json; do
        local dir name out
        dir=$(dirname "$pred"); name=$(basename "$dir")
        out=$RES/track_drone_ir.json; [ "$name" = fscfnet ] || out=$RES/track_drone_ir_$name.json
        [ -f "$out" ] && [ "$out" -nt "$pred" ] && continue  # scored since these detections were written
        [ -f "$dir/bytetrack.json" ] || $ulpy benchmarks/ultralytics_trackers.py --dataset datasets/Drone-IR \
            --pred "$pred" --out "$dir"
        $PY benchmarks/track_eval.py --data Drone-IR --pred "$pred" --confirm 3/5 2/3 --coast 5 --min-motion 0 1 3 \
            --external bytetrack="$dir/bytetrack.json" botsort="$dir/botsort.json" norfair="$dir/norfair.json" \
            --out "$out"
      done ;;
    *) echo "unknown step $1 (fscfnet, yolov10n, ultralytics, score, track)" >&2; exit 2 ;;
  esac
}

for s in "${@:-fscfnet yolov10n ultralytics score}"; do
  for t in $s; do step "$t"; done
done
