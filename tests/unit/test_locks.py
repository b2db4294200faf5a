"""The locks (requirements/*.txt, `make lock`): hash-pinned, host-free, the tested venv's versions, one set per image.

`make install` syncs the venv to requirements/dev.txt and each image installs its own lock with
``pip install --require-hashes --no-deps``; these checks keep the two from drifting apart and keep
each image's lock to its own component: no network, only the files and the running venv.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
LOCK_DIR = REPO / "requirements"
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
EXTRAS = PROJECT["optional-dependencies"]

# Each image's lock: the pyproject dependency groups it must hold (None: the core), and the heavy
# packages of the other components (and of development) it must not.
DEV_ONLY = {"pytest", "ruff", "hypothesis", "playwright", "locust", "kubernetes", "matplotlib"}
MODEL_PACKAGES = {canonicalize_name(Requirement(r).name) for r in EXTRAS["models"]}
IMAGE_LOCKS = {
    "gateway": ((None, "gateway"), {"faster-whisper", "ctranslate2", "kokoro-onnx", "xllamacpp"}),
    "stt": ((None, "stt"), {"pipecat-ai", "kokoro-onnx", "xllamacpp", "openai", "numba"}),
    "stt-cuda": ((None, "stt"), {"pipecat-ai", "kokoro-onnx", "xllamacpp", "openai", "numba"}),
    "tts": ((None, "tts"), {"pipecat-ai", "faster-whisper", "ctranslate2", "xllamacpp", "openai", "numba"}),
    "tts-cuda": ((None, "tts"), {"pipecat-ai", "faster-whisper", "ctranslate2", "xllamacpp", "onnxruntime"}),
    "llm": (("llm",), {"fastapi", "uvicorn", "starlette", "pipecat-ai", "faster-whisper", "kokoro-onnx",
                       "onnxruntime", "numpy", "opentelemetry-sdk", "prometheus-client"}),
}
URL = re.compile(r"[a-z][a-z0-9+.-]*://", re.IGNORECASE)
HOST = re.compile(r"\b[a-z0-9-]+(\.[a-z0-9-]+)*\.(org|com|net|io|dev|ai|cloud|co)\b", re.IGNORECASE)
PIN = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)")


def entries(path: Path) -> dict[str, tuple[str, list[str]]]:
    """``{canonical name: (version, [sha256 hashes])}`` of a lock, failing on anything but pinned, hashed entries."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line and not pending:
            continue
        pending += " " + line.rstrip("\\").strip()
        if not line.endswith("\\"):
            logical.append(pending.strip())
            pending = ""
    assert not pending, f"{path.name}: continuation at end of file"
    found: dict[str, tuple[str, list[str]]] = {}
    for line in logical:
        requirement, *options = line.split()
        assert not requirement.startswith("-"), f"{path.name}: option line {line[:80]!r} (index, find-links...)"
        match = PIN.fullmatch(requirement)
        assert match, f"{path.name}: {requirement!r} is not name==version"
        hashes = [o.removeprefix("--hash=sha256:") for o in options if o.startswith("--hash=sha256:")]
        assert hashes and len(hashes) == len(options), f"{path.name}: {requirement} needs --hash=sha256 options only: {options}"
        assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes), f"{path.name}: {requirement}: malformed hash"
        name = canonicalize_name(match.group(1))
        assert name not in found, f"{path.name}: {name} twice"
        found[name] = (match.group(2), hashes)
    return found


def locks() -> list[Path]:
    return sorted(LOCK_DIR.glob("*.txt"))


def direct(groups: tuple[str | None, ...]) -> list[Requirement]:
    return [Requirement(r) for group in groups for r in (PROJECT["dependencies"] if group is None else EXTRAS[group])]


def test_there_is_a_lock_for_development_and_for_each_python_image():
    assert {p.stem for p in locks()} == {"dev", *IMAGE_LOCKS}
    # each lock has its consumer: `make install` (dev) and one image build context each
    chart_mk = (REPO / "mk" / "chart.mk").read_text()
    contexts = set()
    for variable in ("CPU_CONTEXTS", "GPU_CONTEXTS"):
        contexts |= set(re.search(rf"^{variable} := (.*)$", chart_mk, re.MULTILINE).group(1).split())
    assert contexts == set(IMAGE_LOCKS)
    assert "$(LOCK_DIR)/dev.txt" in (REPO / "Makefile").read_text()


@pytest.mark.parametrize("lock", locks(), ids=lambda p: p.name)
def test_every_entry_is_pinned_and_hashed_and_no_url_or_host_is_named(lock: Path):
    assert entries(lock), f"{lock.name} is empty"
    for number, line in enumerate(lock.read_text().splitlines(), 1):
        assert not URL.search(line), f"{lock.name}:{number}: URL: {line}"
        assert not HOST.search(line), f"{lock.name}:{number}: host name: {line}"
        assert not re.search(r"(?i)(index-url|find-links|trusted-host|^\s*-[if]\s)", line), f"{lock.name}:{number}: {line}"


def test_the_dev_lock_is_what_the_venv_runs():
    """Every package of requirements/dev.txt is installed at its pinned version (make install syncs them)."""
    for name, (version, _) in entries(LOCK_DIR / "dev.txt").items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            pytest.fail(f"{name}=={version} is locked in dev.txt but not installed: run `make install`")
        assert Version(installed) == Version(version), f"{name}: dev.txt pins {version}, the venv has {installed}: make install"


@pytest.mark.parametrize("lock", locks(), ids=lambda p: p.name)
def test_shared_packages_have_the_venvs_version_in_every_lock(lock: Path):
    dev = entries(LOCK_DIR / "dev.txt")
    for name, (version, hashes) in entries(lock).items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            assert name not in dev
            continue  # the CUDA builds are in no development venv
        assert Version(installed) == Version(version), f"{lock.name}: {name}=={version}, the tested venv has {installed}"
        assert dev[name] == (version, hashes), f"{lock.name}: {name} differs from dev.txt"


@pytest.mark.parametrize("lock", ["dev", *IMAGE_LOCKS])
def test_each_lock_holds_its_direct_dependencies_at_allowed_versions(lock: str):
    groups = (None, *EXTRAS) if lock == "dev" else IMAGE_LOCKS[lock][0]
    pinned = entries(LOCK_DIR / f"{lock}.txt")
    for requirement in direct(groups):
        name = canonicalize_name(requirement.name)
        if lock == "tts-cuda" and name == "onnxruntime":
            name = "onnxruntime-gpu"  # the CUDA build provides the same module
        assert name in pinned, f"{lock}.txt lacks {requirement}"
        version = pinned[name][0]
        assert requirement.specifier.contains(version, prereleases=True), f"{lock}.txt: {name}=={version} not in {requirement}"


@pytest.mark.parametrize("lock", list(IMAGE_LOCKS))
def test_an_image_lock_holds_none_of_the_other_components_or_development(lock: str):
    pinned = set(entries(LOCK_DIR / f"{lock}.txt"))
    foreign = {canonicalize_name(n) for n in IMAGE_LOCKS[lock][1] | DEV_ONLY} | MODEL_PACKAGES
    assert not pinned & foreign, f"{lock}.txt holds {sorted(pinned & foreign)}"


def test_the_component_locks_are_what_each_server_needs():
    gateway, stt, tts, llm = (set(entries(LOCK_DIR / f"{n}.txt")) for n in ("gateway", "stt", "tts", "llm"))
    assert {"pipecat-ai", "onnxruntime", "openai", "httpx"} <= gateway
    assert {"faster-whisper", "ctranslate2", "python-multipart"} <= stt
    assert {"kokoro-onnx", "onnxruntime"} <= tts
    assert {"xllamacpp", "pydantic", "pydantic-settings"} <= llm
    assert len(llm) < 12 and len(stt) < len(gateway) and len(tts) < len(gateway)


def test_the_cuda_locks_carry_cuda_12_libraries_and_one_onnx_runtime():
    stt_cuda, tts_cuda = entries(LOCK_DIR / "stt-cuda.txt"), entries(LOCK_DIR / "tts-cuda.txt")
    # CTranslate2 4.x loads CUDA 12's cuBLAS and cuDNN 9; the STT's ONNX Runtime (Silero VAD) stays on CPU
    assert {"nvidia-cublas-cu12", "nvidia-cudnn-cu12", "onnxruntime"} <= set(stt_cuda)
    assert Version(stt_cuda["nvidia-cudnn-cu12"][0]).major == 9
    # onnxruntime-gpu replaces onnxruntime (same module); 1.27 and later are CUDA 13 builds
    assert "onnxruntime" not in tts_cuda and Version(tts_cuda["onnxruntime-gpu"][0]) < Version("1.27")
    assert {"nvidia-cuda-runtime-cu12", "nvidia-cublas-cu12", "nvidia-cudnn-cu12", "nvidia-curand-cu12"} <= set(tts_cuda)
    assert not any(name.startswith("nvidia-") and not name.endswith("-cu12") for name in stt_cuda | tts_cuda)
