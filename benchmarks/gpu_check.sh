#!/usr/bin/env bash
# The one GPU run: CUDA tests, NUAA-SIRST at 640 for 100 epochs (FSCFNet and YOLOv10-n), utilisation, latency.
# Usage: bash benchmarks/gpu_check.sh [--out DIR] [--dry-run]      (default --out: $OUT)
# Needs datasets/NUAA-SIRST prepared (carry it to the GPU machine); see benchmarks/gpu_check.py.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python benchmarks/gpu_check.py "$@"
