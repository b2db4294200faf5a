#!/usr/bin/env bash
# Build what bench/bench_gpu.py needs on a GPU host that has PyTorch and transformers but no network
# (an air-gapped node, a lent benchmark machine): the engines' Python packages as installed files for
# that host's Python, the model files, one xz stream cut into pieces small enough to copy over.
#
#   bench/offline_gpu_bundle.sh OUT_DIR [PIECE_BYTES]
#
# Pins come from the image locks (requirements/stt.txt, tts.txt, tts-cuda.txt), except ONNX Runtime's CUDA build:
# ORT_GPU_VERSION (default 1.31.1, built for CUDA 13, what PyTorch cu13x hosts carry; 1.26.0 for
# CUDA 12). GPU_PYTHON_VERSION is the host's Python (default 3.12). BUNDLE_LLM=0 leaves out the LLM's
# GGUF file (0.49 GB of the 0.93): the benchmark then times the STT and TTS only. On the host, copy
# the pieces into one folder and run bench/offline_gpu_run.sh with it.
set -euo pipefail

out=${1:?usage: $0 OUT_DIR [PIECE_BYTES]}
piece_bytes=${2:-63000000}
python_version=${GPU_PYTHON_VERSION:-3.12}
ort_gpu=${ORT_GPU_VERSION:-1.31.1}
root=$(cd "$(dirname "$0")/.." && pwd)
models=${VOICE_MODELS_DIR:-$root/models}
venv_python=$root/.venv/bin/python

# The engines' own packages; the host's PyTorch image already has numpy, tokenizers, huggingface-hub,
# requests, pyyaml, tqdm, anyio, prometheus-client and the CUDA libraries.
needed="kokoro-onnx phonemizer espeakng-loader dlinfo faster-whisper ctranslate2 av soxr starlette pydantic pydantic-core
pydantic-settings python-dotenv annotated-types typing-inspection typing-extensions opentelemetry-api opentelemetry-sdk
opentelemetry-semantic-conventions onnx ml-dtypes"
pins=()
for name in $needed; do
  pin=$(grep -h -m1 -i "^$name==" "$root"/requirements/{tts,stt,tts-cuda}.txt | head -1 | cut -d' ' -f1)
  pins+=("${pin:?$name is in no image lock}")
done
pins+=("onnxruntime-gpu==$ort_gpu" gguf)

payload=$out/payload
rm -rf "$payload" && mkdir -p "$payload/models/kokoro" "$payload/llm"
"$venv_python" -m pip install --quiet --no-deps --no-compile --only-binary=:all: --target "$payload/site" \
  --python-version "$python_version" --implementation cp --platform manylinux_2_28_x86_64 \
  --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64 "${pins[@]}"
# ONNX Runtime's TensorRT provider and its Python tooling are not used by the engine.
rm -rf "$payload/site/onnxruntime/capi/libonnxruntime_providers_tensorrt.so" "$payload/site/bin" \
  "$payload/site/onnxruntime/"{transformers,tools,quantization}

cp "$models/kokoro/kokoro-v1.0.int8.onnx" "$payload/models/kokoro/"
cp -r "$models/whisper-base" "$payload/models/"
if [ "${BUNDLE_LLM:-1}" != 0 ]; then
  cp "$models"/llm/Qwen2.5-Coder-0.5B-Instruct-AWQ.Q4_K_M.gguf "$payload/llm/"
fi
# The voices the benchmark speaks with (the bot's and four callers'), not all 54: 4 MB instead of 28.
"$venv_python" - "$models/kokoro/voices-v1.0.bin" "$payload/models/kokoro/voices-v1.0.bin" <<'EOF'
import sys
import numpy as np
voices = np.load(sys.argv[1])
with open(sys.argv[2], "wb") as out:
    np.savez(out, **{name: voices[name] for name in ("af_heart", "am_michael", "bf_emma", "bm_george", "af_bella")})
EOF

mkdir -p "$out/pieces" && rm -f "$out/pieces"/bundle.*
tar -C "$out" -cf - payload | xz -6 -T0 | split -b "$piece_bytes" -d -a 2 - "$out/pieces/bundle."
rm -rf "$payload"
ls -l "$out/pieces"
