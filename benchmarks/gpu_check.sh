#!/usr/bin/env bash
# The one GPU run (see benchmarks/gpu_check.py): pre-flight, then training, validation, latency and the CUDA tests
# within one deadline, each stage's result in $OUT/gpu_check.json as soon as it is known.
# Usage: OUT=DIR bash benchmarks/gpu_check.sh [--deadline-s 510] [--dry-run] [--fail STAGE]
# Needs datasets/NUAA-SIRST prepared (carry it to the GPU machine). The interpreter: $PYTHON, else python3.
set -uo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python3}" benchmarks/gpu_check.py "$@"
