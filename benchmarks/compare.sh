#!/usr/bin/env bash
# Runs convlayer and oneDNN side by side on the named suite and writes
#   out/performance.md   a markdown table: GFLOP/s of both, ratio, % of the measured peak
#   out/performance.png  the same as a bar chart
# Usage: benchmarks/compare.sh [extra Google Benchmark flags, e.g. --benchmark_filter=...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-debian.sh libdnnl-dev python3-matplotlib
cmake --preset release >/dev/null
cmake --build --preset release --target conv_layer_bench peak_flops
mkdir -p out
./build/release/benchmarks/peak_flops | tee out/peak.txt
# Repetitions randomly interleaved across all rows: on a shared machine whose load changes over
# minutes, each row's median then samples the same stretch of time for convlayer and oneDNN.
OMP_WAIT_POLICY=active ./build/release/benchmarks/conv_layer_bench \
  --benchmark_filter='BM_(convlayer|onednn)/' --benchmark_repetitions=9 --benchmark_enable_random_interleaving=true \
  --benchmark_report_aggregates_only=true --benchmark_min_time=0.07 \
  --benchmark_out=out/bench.json --benchmark_out_format=json "$@"
/usr/bin/python3 benchmarks/compare_report.py out/bench.json out/peak.txt out/performance.md out/performance.png
cat out/performance.md
