#!/usr/bin/env bash
# Issues 20 and 26: the GPU checks and measurements in one run, for a lent GPU (about 12 minutes of it): every result goes to $OUT (default
# /tmp/gpu-out). From the project's root, with ../shared beside it:
#   OUT=/tmp/gpu-out bash bench/gpu_side_by_side.sh            # on the GPU
#   SMOKE=1 bash bench/gpu_side_by_side.sh                     # on a CPU: every step once, tiny, to check the script
# 0. tests/test_cuda.py (CUDA graphs against the plain loop on the GPU) and the CPU stand-in tests of the same path;
# 1. the fast recipe (cifar_fast's Learner, CUDA graphs on) and upstream airbench94, 5 seeds each, interleaved, same JPEG tensors;
# 2. upstream airbench94_muon and hiverge's cifar10-speedrun, 5 runs each after their own warm-up (compile), and cifar_fast's muon recipe, 5 seeds;
# 3. the whole `cifar-fast train --recipe fast` command (its defaults: no CUDA graphs): cold (empty cache) and warm;
# 4. the fast recipe without CUDA graphs (--no-cuda-graphs), 5 seeds, for the graphs' effect;
# 5. bench/overhead.py on the GPU with the recipe's own net (widths 64,256,256, batch 1024, bf16).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-out}; mkdir -p "$OUT"
PY=${PY:-python}; ARCHIVE=$(cd .. && pwd)/shared/data/cifar10-jpg.tgz; PEERS=$(cd .. && pwd)/shared/peers
SEEDS=5; EPOCHS=all; SUB=(); OVER=(--device cuda --widths 64,256,256 --bs 1024 --batches 40 --repeats 3 --precision bf16 --threads 16)
PEER="$PEERS/gpu/airbench94.py"
if [ "${SMOKE:-}" = 1 ]; then SEEDS=1; EPOCHS=1; SUB=(--subset 110); OVER=(--batches 5 --repeats 1 --bs 4); PEER=none; fi
export CIFAR_FAST_CACHE=$OUT/cache
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>/dev/null || echo "no GPU"; $PY -c "import torch, fastai; print('torch', torch.__version__, 'fastai', fastai.__version__)"; git rev-parse HEAD; date -u; } > "$OUT/machine.txt" 2>&1
$PY -m pytest -q -rs tests/test_cuda.py tests/test_cuda_graphs_cpu.py > "$OUT/0_cuda_tests.txt" 2>&1
$PY "$PEERS/cifar_jpg_tensors.py" "$ARCHIVE" "$OUT/peers/cifar10" > "$OUT/tensors.txt" 2>&1
(cd bench && $PY fast_recipe.py --data "$ARCHIVE" --seeds $SEEDS --epochs $EPOCHS "${SUB[@]}" --peer "$PEER") > "$OUT/1_fast_vs_airbench94.txt" 2>&1
[ "${SMOKE:-}" = 1 ] || $PY "$PEERS/gpu/run_peer.py" "$PEERS/gpu/airbench94_muon.py" "$OUT/peers" --runs 5 > "$OUT/2_airbench94_muon.txt" 2>&1
[ "${SMOKE:-}" = 1 ] || $PY "$PEERS/gpu/run_peer.py" "$PEERS/gpu/cifar10_speedrun.py" "$OUT/peers" --runs 5 > "$OUT/2_cifar10_speedrun.txt" 2>&1
(cd bench && $PY fast_recipe.py --recipe muon --data "$ARCHIVE" --seeds $SEEDS --epochs $EPOCHS "${SUB[@]}" --peer none) > "$OUT/2_muon_recipe.txt" 2>&1
for run in cold warm; do
  [ $run = cold ] && rm -rf "$OUT/cache"
  /usr/bin/time -f "$run: %e s wall" .venv/bin/cifar-fast train --recipe fast --seed 0 --data "$ARCHIVE" "${SUB[@]}" $( [ "${SMOKE:-}" = 1 ] && echo --epochs 1 --bs 100 ) --out "$OUT/models/fast.pkl" >> "$OUT/3_whole_command.txt" 2>&1
done
(cd bench && $PY fast_recipe.py --data "$ARCHIVE" --seeds $SEEDS --epochs $EPOCHS "${SUB[@]}" --no-cuda-graphs) > "$OUT/4_fast_without_graphs.txt" 2>&1
(cd bench && $PY overhead.py "${OVER[@]}") > "$OUT/5_overhead.txt" 2>&1
tail -n 3 "$OUT"/*.txt
