#!/usr/bin/env bash
# The Node half of the benchmark on a machine with a real GPU: Dawn finds the
# system Vulkan driver (VK_ICD_FILENAMES is left unset unless the caller sets
# it). Sized to finish in under 5 minutes; --quick (or BENCH_QUICK=1) shrinks
# the sizes further. Results go under $OUT/bench-results when OUT is set, else
# bench/results/. No browser and no PyTorch here: those peers run in
# `npm run bench` on the development machine.
#
#   bash bench/device.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules ]; then npm ci --no-audit --no-fund; fi
node scripts/gen-shaders.mjs
if command -v nvidia-smi >/dev/null; then nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true; fi

# On a real GPU the full sizes take seconds; the 5-minute cap guards a slow
# driver or a fall-back onto a software adapter.
exec timeout 290 npx tsx bench/run.ts --node-only --no-torch --large "$@"
