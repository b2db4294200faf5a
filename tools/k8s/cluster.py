#!/usr/bin/env python3
"""A real Kubernetes control plane on 127.0.0.1 with kwok fake nodes, for the chart's cluster tests.

etcd (Debian's), kube-apiserver, kube-controller-manager, kube-scheduler and kwok (built by
tools/k8s/build.sh) run as child processes on free loopback ports. Four fake nodes are
registered and kept alive by kwok, which also walks scheduled pods to Running/Ready (no kubelet,
no containers): Deployments become Available, so ``helm install --wait`` finishes, while the
API server's validation/admission, the controllers (ReplicaSets, garbage collection, PDBs...)
and the scheduler's decisions are the real ones.

    python tools/k8s/cluster.py up            start, print KUBECONFIG, run until Ctrl-C
    python tools/k8s/cluster.py run -- CMD    start, run CMD with KUBECONFIG set, stop

Standard library only (certificates come from the openssl CLI). Importable: ``Cluster``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILD = HERE / "build.sh"
BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.244.0.1/16"
# kwok manages only the nodes carrying this annotation (--manage-nodes-with-annotation-selector).
KWOK_ANNOTATION = ("kwok.x-k8s.io/node", "fake")


@dataclass(frozen=True)
class FakeNode:
    name: str
    labels: dict[str, str]
    capacity: dict[str, str]
    taints: tuple[dict, ...] = ()


GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
# Two GPU nodes (GPU Feature Discovery's label, the usual NVIDIA taint, 2 GPUs each: the chart's
# GPU scenario needs 3, so one stays free) and two nodes of the CPU pool.
NODES = (
    *(FakeNode(f"gpu-{i}", {"nvidia.com/gpu.present": "true", "nvidia.com/gpu.product": "NVIDIA-L4",
                            "nvidia.com/gpu.count": "2", "node.kubernetes.io/instance-type": "fake-gpu"},
               {"cpu": "16", "memory": "64Gi", "pods": "110", "ephemeral-storage": "200Gi", "nvidia.com/gpu": "2"},
               (GPU_TAINT,)) for i in range(2)),
    *(FakeNode(f"cpu-{i}", {"voice-agent/pool": "cpu", "node.kubernetes.io/instance-type": "fake-cpu"},
               {"cpu": "32", "memory": "128Gi", "pods": "110", "ephemeral-storage": "200Gi"}) for i in range(2)),
)


class ClusterError(RuntimeError):
    pass


def default_bin_dir() -> Path:
    if os.environ.get("VOICE_K8S_BIN"):
        return Path(os.environ["VOICE_K8S_BIN"])
    out = subprocess.run([str(BUILD), "--print"], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def default_etcd() -> Path:
    found = os.environ.get("VOICE_ETCD") or shutil.which("etcd") or "/usr/bin/etcd"
    return Path(found)


def missing_tools(bin_dir: Path | None = None, etcd: Path | None = None) -> list[str]:
    """What is not installed, as messages (empty: ready to start)."""
    bin_dir = bin_dir or default_bin_dir()
    etcd = etcd or default_etcd()
    missing = [str(bin_dir / b) for b in (*BINARIES, "kwok-stages.yaml") if not (bin_dir / b).exists()]
    if not os.access(etcd, os.X_OK):
        missing.append(f"{etcd} (Debian package etcd-server)")
    return missing


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the parent dies (no orphaned control planes)."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Cluster:
    """The control plane and fake nodes. ``start()``, then ``kubeconfig``; ``stop()`` always."""

    workdir: Path
    bin_dir: Path = field(default_factory=default_bin_dir)
    etcd: Path = field(default_factory=default_etcd)
    nodes: tuple[FakeNode, ...] = NODES
    start_timeout: float = 180.0
    processes: list[Process] = field(default_factory=list)
    api_port: int = 0
    etcd_dir: Path | None = None
    # Detached: the processes outlive this Python process (node.py's `up`, stopped by `down`).
    detach: bool = False

    # -- paths ----------------------------------------------------------------------------------
    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    def _p(self, name: str) -> Path:
        return self.workdir / "pki" / name

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> Cluster:
        missing = missing_tools(self.bin_dir, self.etcd)
        if missing:
            raise ClusterError("missing: " + ", ".join(missing) + " (run `make k8s-tools`)")
        deadline = time.monotonic() + self.start_timeout
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "logs").mkdir(exist_ok=True)
        try:
            self._certificates()
            etcd_url = self._start_etcd(deadline)
            self._start_apiserver(etcd_url, deadline)
            self._write_kubeconfig()
            self._start_controllers()
            self._register_nodes()
            self._wait(deadline, f"{len(self.nodes)} nodes Ready and untainted by the node controller",
                       self._nodes_ready)
            self._wait(deadline, "the controller-manager (ServiceAccount default/default)",
                       lambda: self.get("/api/v1/namespaces/default/serviceaccounts/default") is not None)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM in reverse start order, SIGKILL what is left after ``timeout``; remove etcd's data."""
        for proc in reversed(self.processes):
            if proc.popen.poll() is None:
                proc.popen.terminate()
            try:
                proc.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait(timeout=10)
        self.processes.clear()
        if self.etcd_dir is not None:
            shutil.rmtree(self.etcd_dir, ignore_errors=True)
            self.etcd_dir = None

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- pieces ---------------------------------------------------------------------------------
    def _openssl(self, *args: str) -> None:
        proc = subprocess.run(["openssl", *args], check=False, capture_output=True, text=True, cwd=self.workdir / "pki")
        if proc.returncode != 0:
            raise ClusterError(f"openssl {' '.join(args)}: {proc.stderr}")

    def _certificates(self) -> None:
        """A throwaway CA, the API server's serving cert, an admin client cert, the SA signing key."""
        pki = self.workdir / "pki"
        pki.mkdir(exist_ok=True)
        sans = ",".join(["IP:127.0.0.1", "IP:10.96.0.1", "DNS:localhost", "DNS:kubernetes",
                         "DNS:kubernetes.default", "DNS:kubernetes.default.svc",
                         "DNS:kubernetes.default.svc.cluster.local"])
        (pki / "openssl.cnf").write_text(
            "[req]\ndistinguished_name = dn\n[dn]\n"
            "[ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign,digitalSignature\n"
            "subjectKeyIdentifier = hash\n"
            "[server]\nbasicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature,keyEncipherment\n"
            f"extendedKeyUsage = serverAuth\nsubjectAltName = {sans}\nauthorityKeyIdentifier = keyid\n"
            "[client]\nbasicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature,keyEncipherment\n"
            "extendedKeyUsage = clientAuth\nauthorityKeyIdentifier = keyid\n"
        )
        ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
        self._openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "7",
                      "-subj", "/CN=voice-agent-test-ca", "-config", "openssl.cnf", "-extensions", "ca")
        for name, subject in (("apiserver", "/CN=kube-apiserver"),
                              ("admin", "/O=system:masters/CN=voice-agent-admin")):
            self._openssl("req", "-new", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                          "-subj", subject, "-config", "openssl.cnf")
            self._openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                          "-set_serial", str(int.from_bytes(os.urandom(8), "big")), "-days", "7",
                          "-out", f"{name}.crt", "-extfile", "openssl.cnf",
                          "-extensions", "server" if name == "apiserver" else "client")
        self._openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "sa.key")
        self._openssl("pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub")

    def _spawn(self, name: str, argv: list[str]) -> Process:
        log = self.workdir / "logs" / f"{name}.log"
        with log.open("ab") as out:
            # PR_SET_PDEATHSIG can only be set in the child, and preexec_fn is subprocess's one hook there. The
            # deadlock the rule warns of needs another thread holding a lock at fork; this module starts none.
            popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                     cwd=self.workdir, start_new_session=True,
                                     preexec_fn=None if self.detach else _die_with_parent)  # noqa: PLW1509
        proc = Process(name, popen, log)
        self.processes.append(proc)
        return proc

    def _wait(self, deadline: float, what: str, ready: Callable[[], bool], interval: float = 0.5) -> None:
        last: Exception | None = None
        while time.monotonic() < deadline:
            for proc in self.processes:
                if proc.popen.poll() is not None:
                    raise ClusterError(f"{proc.name} exited with {proc.popen.returncode} while waiting for {what}:\n"
                                       f"{proc.tail()}")
            try:
                if ready():
                    return
            except Exception as e:  # noqa: BLE001 - not up yet
                last = e
            time.sleep(interval)
        logs = "\n".join(f"--- {p.name} ({p.log}) ---\n{p.tail(15)}" for p in self.processes)
        raise ClusterError(f"timed out waiting for {what} (last error: {last!r})\n{logs}")

    def _start_etcd(self, deadline: float) -> str:
        # Data on tmpfs when there is one: etcd fsyncs every write, and these disks are shared.
        shm = Path("/dev/shm")
        base = shm if shm.is_dir() and os.access(shm, os.W_OK) else self.workdir
        self.etcd_dir = Path(tempfile.mkdtemp(prefix="voice-etcd-", dir=base))
        client, peer = free_port(), free_port()
        url = f"http://127.0.0.1:{client}"
        self._spawn("etcd", [
            str(self.etcd), "--name=voice", f"--data-dir={self.etcd_dir}",
            f"--listen-client-urls={url}", f"--advertise-client-urls={url}",
            f"--listen-peer-urls=http://127.0.0.1:{peer}", f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-cluster=voice=http://127.0.0.1:{peer}", "--initial-cluster-state=new",
            "--logger=zap", "--log-level=warn", "--quota-backend-bytes=2147483648",
        ])

        def healthy() -> bool:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                return json.load(r).get("health") == "true"

        self._wait(deadline, "etcd /health", healthy)
        return url

    def _start_apiserver(self, etcd_url: str, deadline: float) -> None:
        self.api_port = free_port()
        p = self._p
        self._spawn("kube-apiserver", [
            str(self.bin_dir / "kube-apiserver"),
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1", f"--secure-port={self.api_port}", "--advertise-address=127.0.0.1",
            f"--tls-cert-file={p('apiserver.crt')}", f"--tls-private-key-file={p('apiserver.key')}",
            f"--client-ca-file={p('ca.crt')}",
            # Request-header authn, as kubeadm sets it up: the controller-manager and the scheduler
            # read this CA from kube-system/extension-apiserver-authentication (and log errors without it).
            f"--requestheader-client-ca-file={p('ca.crt')}", "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User", "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={p('sa.pub')}", f"--service-account-signing-key-file={p('sa.key')}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=Node,RBAC",
            # logs, exec and port-forward on a real kubelet (tools/k8s/node.py), which trusts this CA.
            f"--kubelet-client-certificate={p('admin.crt')}", f"--kubelet-client-key={p('admin.key')}",
            "--kubelet-preferred-address-types=InternalIP,Hostname",  # the node's name is in no DNS
            # The `kubernetes` Service would point at 127.0.0.1, which Endpoints validation refuses.
            "--endpoint-reconciler-type=none",
            f"--cert-dir={self.workdir / 'apiserver-certs'}",
            # Debian's etcd (3.4.23) cannot answer watch progress requests (3.4.31+ can), so the
            # API server refuses watch-list streams; with WatchList on it also turns every plain
            # watch from resourceVersion 0 into one, and kwok (which watches from 0) would only
            # notice pod deletions on its backed-off relists, tens of seconds late.
            "--feature-gates=WatchList=false",
            "--profiling=false", "--v=1",
        ])
        self._wait(deadline, "kube-apiserver /readyz", lambda: self.request("GET", "/readyz", raw=True) == b"ok")

    def _write_kubeconfig(self) -> None:
        def b64(name: str) -> str:
            return base64.b64encode(self._p(name).read_bytes()).decode()

        config = {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": "voice-test", "cluster": {"server": self.server,
                                                            "certificate-authority-data": b64("ca.crt")}}],
            "users": [{"name": "admin", "user": {"client-certificate-data": b64("admin.crt"),
                                                 "client-key-data": b64("admin.key")}}],
            "contexts": [{"name": "voice-test", "context": {"cluster": "voice-test", "user": "admin"}}],
            "current-context": "voice-test",
        }
        self.kubeconfig.write_text(json.dumps(config, indent=2))  # JSON is YAML
        self.kubeconfig.chmod(0o600)

    def _start_controllers(self) -> None:
        kubeconfig = f"--kubeconfig={self.kubeconfig}"
        common = [kubeconfig, f"--authentication-kubeconfig={self.kubeconfig}",
                  f"--authorization-kubeconfig={self.kubeconfig}", "--bind-address=127.0.0.1",
                  "--leader-elect=false", "--profiling=false", "--v=1"]
        self._spawn("kube-controller-manager", [
            str(self.bin_dir / "kube-controller-manager"), *common, f"--secure-port={free_port()}",
            f"--service-account-private-key-file={self._p('sa.key')}", f"--root-ca-file={self._p('ca.crt')}",
            f"--service-cluster-ip-range={SERVICE_CIDR}", "--use-service-account-credentials=false",
            f"--cert-dir={self.workdir / 'kcm-certs'}",
        ])
        self._spawn("kube-scheduler", [
            str(self.bin_dir / "kube-scheduler"), *common, f"--secure-port={free_port()}",
            f"--cert-dir={self.workdir / 'scheduler-certs'}",
        ])
        if not self.nodes:
            return  # no fake nodes: a real kubelet registers itself (tools/k8s/node.py)
        key, value = KWOK_ANNOTATION
        self._spawn("kwok", [
            str(self.bin_dir / "kwok"), kubeconfig, f"--config={self.bin_dir / 'kwok-stages.yaml'}",
            "--manage-all-nodes=false", f"--manage-nodes-with-annotation-selector={key}={value}",
            "--manage-nodes-with-label-selector=",
            f"--cidr={POD_CIDR}", "--node-ip=10.0.0.1", "--node-lease-duration-seconds=40",
            "--server-address=", "--v=INFO",
        ])

    def _register_nodes(self) -> None:
        for node in self.nodes:
            labels = {"kubernetes.io/hostname": node.name, "kubernetes.io/os": "linux",
                      "kubernetes.io/arch": "amd64", "type": "kwok", **node.labels}
            body = {
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": node.name, "labels": labels,
                             "annotations": {KWOK_ANNOTATION[0]: KWOK_ANNOTATION[1], "node.alpha.kubernetes.io/ttl": "0"}},
                "spec": {"taints": list(node.taints)},
                "status": {"capacity": node.capacity, "allocatable": node.capacity,
                           "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux",
                                        "kubeletVersion": "fake", "kubeProxyVersion": "fake",
                                        "containerRuntimeVersion": "kwok", "kernelVersion": "", "osImage": "",
                                        "machineID": "", "systemUUID": "", "bootID": ""},
                           "phase": "Running"},
            }
            self.request("POST", "/api/v1/nodes", body)

    def _nodes_ready(self) -> bool:
        items = self.get("/api/v1/nodes")["items"]
        if len(items) != len(self.nodes):
            return False
        for n in items:
            ready = [c for c in n.get("status", {}).get("conditions", []) if c["type"] == "Ready"]
            taints = [t["key"] for t in n["spec"].get("taints", []) if t["key"].startswith("node.kubernetes.io/")]
            if not ready or ready[0]["status"] != "True" or taints:
                return False
        return True

    # -- a tiny REST client (admin certificate) ---------------------------------------------------
    def _ssl(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self._p("ca.crt")))
        ctx.load_cert_chain(str(self._p("admin.crt")), str(self._p("admin.key")))
        return ctx

    def request(self, method: str, path: str, body: dict | None = None, raw: bool = False):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path, data=data, method=method,
                                     headers={"Content-Type": "application/json", "Accept": "application/json"})
        with urllib.request.urlopen(req, context=self._ssl(), timeout=10) as r:
            payload = r.read()
        return payload if raw else json.loads(payload)

    def get(self, path: str):
        """GET an API path as JSON; None on 404."""
        try:
            return self.request("GET", path)
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", type=Path, help="work directory (default: a new temporary one, removed at the end)")
    ap.add_argument("--bin-dir", type=Path, help="kube-* and kwok binaries (default: tools/k8s/build.sh --print)")
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for the cluster to come up")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("up", help="start and run until Ctrl-C")
    run = sub.add_parser("run", help="start, run a command with KUBECONFIG set, stop")
    run.add_argument("argv", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)

    workdir = args.dir or Path(tempfile.mkdtemp(prefix="voice-k8s-"))
    cluster = Cluster(workdir, bin_dir=args.bin_dir or default_bin_dir(), start_timeout=args.timeout)
    stop = {"now": False}

    def on_signal(signum, frame):
        stop["now"] = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    started = time.monotonic()
    rc = 0
    try:
        cluster.start()
        print(f"cluster up in {time.monotonic() - started:.1f}s: {cluster.server}", file=sys.stderr)
        print(f"export KUBECONFIG={cluster.kubeconfig}", flush=True)
        if args.cmd == "run":
            command = [a for a in args.argv if a != "--"] if args.argv[:1] == ["--"] else args.argv
            if not command:
                ap.error("run needs a command")
            rc = subprocess.run(command, check=False, env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}).returncode
        else:
            print(f"logs in {workdir / 'logs'}; Ctrl-C stops it", file=sys.stderr)
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        pass
    except ClusterError as e:
        print(f"cluster: {e}", file=sys.stderr)
        rc = 1
    finally:
        cluster.stop()
        if args.dir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
