"""One image's build context from its lock (``make image-context``): requirements.txt, wheels/, project/.

    python scripts/image_context.py --lock requirements/stt.txt --project .cache/images/dist --dest .cache/images/context/stt

``wheels/`` holds exactly the lock's distributions, downloaded by pip in hash-checking mode
(``--require-hashes --no-deps``: the lock is the whole set, nothing is resolved) here, where pip
trusts this machine's CAs and uses its cache and index settings, so the image build installs offline.
A distribution that comes only as an sdist is built into a wheel here, so the image needs no
compiler or build backend; the context's copy of the lock gets that wheel's sha256 added to the
entry, so the image still installs everything with ``--require-hashes`` (the sdist itself was
checked against the lock's hashes before it was built). ``project/`` holds the project wheel, which
each Dockerfile installs last with ``--no-deps``.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]


def normalize(name: str) -> str:
    """PEP 503 name normalization (``Foo_Bar`` and ``foo-bar`` are one project)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def add_hash(lock_text: str, name: str, sha256: str) -> str:
    """``lock_text`` with ``--hash=sha256:<sha256>`` added to ``name``'s entry (``name==version \\``)."""
    lines = lock_text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==\S+ \\$", line.rstrip("\n"))
        if match and normalize(match.group(1)) == normalize(name):
            lines.insert(index + 1, f"    --hash=sha256:{sha256} \\\n")
            return "".join(lines)
    raise SystemExit(f"{name}: built from an sdist but has no hashed entry in the lock")


def build_sdists(wheels: Path, requirements: Path) -> None:
    """Each sdist in ``wheels`` becomes a wheel there, its sha256 added to ``requirements``."""
    for sdist in sorted(wheels.glob("*.tar.gz")) + sorted(wheels.glob("*.zip")):
        before = set(wheels.glob("*.whl"))
        subprocess.run([*PIP, "wheel", "--no-deps", "--wheel-dir", str(wheels), str(sdist)], check=True)
        built = sorted(set(wheels.glob("*.whl")) - before)
        if len(built) != 1:
            raise SystemExit(f"{sdist.name}: expected one wheel, got {[w.name for w in built]}")
        sdist.unlink()
        digest = hashlib.sha256(built[0].read_bytes()).hexdigest()
        requirements.write_text(add_hash(requirements.read_text(), built[0].name.split("-")[0], digest))
        print(f"{sdist.name}: built {built[0].name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lock", type=Path, required=True, help="requirements/<image>.txt")
    parser.add_argument("--project", type=Path, required=True, help="directory holding the project wheel")
    parser.add_argument("--dest", type=Path, required=True, help="the context directory (replaced)")
    args = parser.parse_args()

    if sys.version_info[:2] != (3, 11):
        raise SystemExit("the images run CPython 3.11: run this with the venv's python3.11")
    shutil.rmtree(args.dest, ignore_errors=True)
    wheels, project = args.dest / "wheels", args.dest / "project"
    wheels.mkdir(parents=True)
    project.mkdir()
    requirements = args.dest / "requirements.txt"
    shutil.copyfile(args.lock, requirements)
    subprocess.run([*PIP, "download", "--no-deps", "--require-hashes", "--dest", str(wheels), "-r", str(args.lock)],
                   check=True)
    build_sdists(wheels, requirements)
    for wheel in args.project.glob("voice_agent_stack-*.whl"):
        shutil.copy2(wheel, project)
    if not any(project.iterdir()):
        raise SystemExit(f"no project wheel in {args.project}")


if __name__ == "__main__":
    main()
