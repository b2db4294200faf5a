#!/usr/bin/env bash
# Run bench/bench_gpu.py on an offline GPU host from the pieces bench/offline_gpu_bundle.sh made.
#
#   bench/offline_gpu_run.sh PIECES_DIR RESULTS_DIR [WORK_DIR]
#
# Unpacks once into WORK_DIR (default /tmp/voice-gpu-bench), points the loader at the host's CUDA
# libraries (the nvidia-* packages beside its PyTorch), and writes bench_gpu.md and bench_gpu.json
# to RESULTS_DIR. CTranslate2's wheel loads CUDA 12's libcublas.so.12 by name; on a host with only
# CUDA 13 that name is given to CUDA 13's cuBLAS (the calls it makes are in both), and the first
# lines of the output say whether CTranslate2 then sees the GPU.
set -uo pipefail

pieces=${1:?usage: $0 PIECES_DIR RESULTS_DIR [WORK_DIR]}
results=${2:?usage: $0 PIECES_DIR RESULTS_DIR [WORK_DIR]}
work=${3:-/tmp/voice-gpu-bench}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$work" "$results"
if [ ! -d "$work/payload" ]; then
  cat "$pieces"/bundle.* | python3 -c "import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.stdin.buffer), sys.stdout.buffer)" \
    | tar -x -C "$work" || exit 1
fi
export PYTHONPATH=$work/payload/site PYTHONUNBUFFERED=1
nvidia=$(python3 -c "import nvidia; print(' '.join(nvidia.__path__))")
if ! find $nvidia -name 'libcublas.so.12*' | grep -q .; then
  mkdir -p "$work/cublas12" && ln -sf "$(find $nvidia -name 'libcublas.so.13*' | head -1)" "$work/cublas12/libcublas.so.12"
fi
export LD_LIBRARY_PATH=$work/cublas12:$(find $nvidia -maxdepth 3 -name lib -type d | tr '\n' ':')${LD_LIBRARY_PATH:-}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
python3 -c "import ctranslate2, onnxruntime, torch, transformers; print('onnxruntime', onnxruntime.__version__, onnxruntime.get_available_providers()); print('ctranslate2', ctranslate2.__version__, 'CUDA devices:', ctranslate2.get_cuda_device_count()); print('torch', torch.__version__, 'transformers', transformers.__version__)"
gguf=$(ls "$work"/payload/llm/*.gguf 2>/dev/null | head -1)
python3 "$root/bench/bench_gpu.py" --runs 10 --llm-runs 3 --models-dir "$work/payload/models" \
  ${gguf:+--llm-gguf "$gguf" --llm-shapes Qwen2.5-1.5B-Instruct Qwen2.5-7B-Instruct} \
  --json "$results/bench_gpu.json" 2>&1 | tee "$results/bench_gpu.md"
