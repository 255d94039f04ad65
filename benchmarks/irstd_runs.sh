#!/usr/bin/env bash
# The CPU runs behind the shipped fscfnet-irstd checkpoint and the generalisation study (docs/models.md): FSCFNet
# with the recipe the results support (native-scale 320-px crops, background crops of the training frames at a
# quarter of each epoch, 50 epochs, batch 16, seed 0) trained on
#   all3           NUAA-SIRST + NUDT-SIRST + IRSTD-1K in one run (the shipped checkpoint)
#   single_B       benchmark B alone (B = NUAA-SIRST, NUDT-SIRST, IRSTD-1K)
#   without_B      the other two (leave B out)
# and each scored on every benchmark's test split and on target-free crops of its test frames
# (benchmarks/background_eval.py: AP50, Pd at 0.25, Pd at 0.1 false alarms per target-free crop), then compared
# (benchmarks/generalisation_table.py: all three against one, and leave one out); ship: all3's last epoch as the
# package's fscfnet-irstd, at the confidence that keeps false alarms within 0.1 per target-free crop of every
# benchmark's test frames (generalisation_table.py's advice), once its half-precision copy is shown to stay within
# 0.05 px and 0.005 in score on 100 frames, then the shipped-checkpoint tests; newsensor: every finished model on a
# sensor none of them saw, Drone-IR's test videos as one class (every 10th frame; Pd at 0.1 false alarms per
# target-free crop of those videos, and Pd and false alarms at fscfnet-irstd's advised confidence).
# Each step resumes where it stopped (train.py --resume from last.pt; background_eval skips what its file holds).
#
#   bash benchmarks/irstd_runs.sh sets all3 score ship     # ~3 h of training on 2 CPU cores
#   bash benchmarks/irstd_runs.sh single_NUAA-SIRST without_IRSTD-1K score newsensor ...
#
# Needs the three benchmarks prepared under datasets/ (python -m fscfnet.data.prepare ../shared/datasets/NAME
# --dst datasets/NAME); newsensor also Drone-IR prepared (fscfnet prepare ../shared/datasets/Drone-IR --dst
# datasets/Drone-IR --every 10) and its target-free test crops (bash benchmarks/drone_ir_runs.sh score).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
RUNS=runs/irstd
RES=benchmarks/results
ALL=(NUAA-SIRST NUDT-SIRST IRSTD-1K)
common=(--model fscfnet --epochs 50 --imgsz 320 --batch 16 --seed 0 --workers 2 --device cpu --project $RUNS
        --set scale=native background_ratio=0.25 val_period=5 exist_ok=true)

sets() {  # per benchmark: background for training, a background test set, and its YAML with the background
  for b in "${ALL[@]}"; do
    [ -f datasets/bg-train-$b/data.yaml ] || $PY benchmarks/background_crops.py --data $b --split train \
        --sizes 96 128 192 --per-frame 1 --out datasets/bg-train-$b
    [ -f datasets/bg-test-$b/data.yaml ] || $PY benchmarks/background_crops.py --data $b --split test \
        --sizes 96 160 --per-frame 2 --out datasets/bg-test-$b
    cat > datasets/$b-bg.yaml <<EOF
# $b with target-free crops of its own training frames as background (benchmarks/irstd_runs.sh)
path: $PWD/datasets/$b
train: img_idx/train_$b.txt
test: img_idx/test_$b.txt
names: [target]
background: [$PWD/datasets/bg-train-$b/images]
EOF
  done
}

train() {  # NAME BENCHMARK...: one run, resumed from its last.pt when there is one, skipped when finished
  local name=$1; shift
  local dir=$RUNS/$name data=()
  for b in "$@"; do data+=(datasets/$b-bg.yaml); done
  [ -f $dir/finished ] && return 0
  if [ -f $dir/weights/last.pt ]; then
    $PY train.py --resume $dir/weights/last.pt --workers 2 --device cpu
  else
    $PY train.py --data "${data[@]}" "${common[@]}" --name $name
  fi
  touch $dir/finished
  mkdir -p $RES/experiments/irstd_runs  # the run's record, not its weights or pictures
  tar -C $RUNS --exclude weights --exclude '*.jpg' --exclude '*.png' -cf - $name | tar -C $RES/experiments/irstd_runs -xf -
}

finished() {  # NAME=WEIGHTS of every finished run, one per line; an error when there is none
  local d name n=0
  for d in $RUNS/*/finished; do
    [ -e "$d" ] || continue  # the pattern itself when nothing matches
    name=$(basename "$(dirname "$d")")
    echo "$name=$RUNS/$name/weights/last.pt"
    n=$((n + 1))
  done
  [ $n -gt 0 ] || { echo "irstd_runs.sh: no finished run under $RUNS to score" >&2; return 2; }
}

score() {  # every finished model on every benchmark
  local models; models=$(finished); mapfile -t models <<< "$models"
  for b in "${ALL[@]}"; do
    $PY benchmarks/background_eval.py --targets $b --background datasets/bg-test-$b/data.yaml \
        --models "${models[@]}" --out $RES/irstd_generalisation_$b.json
  done
  local files=()
  for b in "${ALL[@]}"; do files+=("$RES/irstd_generalisation_$b.json"); done
  $PY benchmarks/generalisation_table.py --results "${files[@]}" --out $RES/irstd_generalisation.json
}

ship() {  # all3 -> fscfnet/weights/fscfnet-irstd.pt (last.pt: best.pt is chosen on the test splits)
  local conf weights=$RUNS/all3/weights/last.pt
  [ -f $RUNS/all3/finished ] || { echo "irstd_runs.sh ship: all3 has not finished training" >&2; return 2; }
  conf=$($PY benchmarks/generalisation_table.py --advice all3 --summary $RES/irstd_generalisation.json)
  $PY benchmarks/half_precision.py --weights $weights --images "datasets/IRSTD-1K/images/*.png" --limit 100 \
      --max-px 0.05 --max-score 0.005 --out $RES/half_precision_irstd.json
  $PY -m fscfnet ship $weights --name fscfnet-irstd --conf "$conf" \
      --about "one class: small infrared targets in single frames; trained on NUAA-SIRST, NUDT-SIRST and IRSTD-1K"
  $PY -m pytest -q tests/test_shipped.py
}

newsensor() {  # needs Drone-IR prepared and its target-free test crops (benchmarks/drone_ir_runs.sh score)
  local models; models=$(finished); mapfile -t models <<< "$models"
  [ -f datasets/Drone-IR-target/data.yaml ] || $PY benchmarks/one_class_view.py --data Drone-IR --split test \
      --every 10 --out datasets/Drone-IR-target
  [ -f datasets/bg-test-Drone-IR-target/data.yaml ] || $PY benchmarks/one_class_view.py \
      --data datasets/bg-test-Drone-IR/data.yaml --out datasets/bg-test-Drone-IR-target
  local conf at=()  # and at fscfnet-irstd's advised confidence, once there is one: the advice on a new sensor
  if conf=$($PY benchmarks/generalisation_table.py --advice all3 --summary $RES/irstd_generalisation.json); then
    at=(--at-conf "$conf")
  fi
  $PY benchmarks/background_eval.py --targets datasets/Drone-IR-target/data.yaml \
      --background datasets/bg-test-Drone-IR-target/data.yaml --models "${models[@]}" "${at[@]}" \
      --out $RES/irstd_on_drone_ir.json
}

others() { for b in "${ALL[@]}"; do [ "$b" = "$1" ] || echo "$b"; done; }

for s in "$@"; do
  case $s in
    sets) sets ;;
    all3) train all3 "${ALL[@]}" ;;
    single_*) train "$s" "${s#single_}" ;;
    # shellcheck disable=SC2046
    without_*) train "$s" $(others "${s#without_}") ;;
    score) score ;;
    ship) ship ;;
    newsensor) newsensor ;;
    *) echo "irstd_runs.sh: unknown step '$s' (sets, all3, single_B, without_B, score, ship, newsensor)" >&2; exit 2 ;;
  esac
done
