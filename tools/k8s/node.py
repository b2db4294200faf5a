#!/usr/bin/env python3
"""A real single-node Kubernetes cluster on this machine, offline: the chart's pods really run.

The control plane of cluster.py (Debian's etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, no kwok) plus, as host processes in the style of upstream's
hack/local-up-cluster.sh:

* containerd (Debian's 1.6) with its own config, socket, root and state, so it never touches a
  dockerd's containerd; runc; CNI bridge + host-local + portmap + loopback from Debian's
  containernetworking-plugins; the pause image compiled here from k8s.io/kubernetes's
  build/pause/linux/pause.c (gcc -static) and imported as an OCI archive: nothing is pulled;
* kubelet (cgroupfs driver, ``failCgroupV1: false`` on cgroup v1 hosts, swap allowed), node
  ``voice-node`` labelled ``voice-agent/pool=cpu``, node IP = the pod bridge's gateway address;
* kube-proxy in iptables mode;
* CoreDNS (tools/k8s/coredns: the kubernetes plugin) on the node IP, behind the usual
  ``kube-system/kube-dns`` Service 10.96.0.10 (a selector-less Service + an EndpointSlice),
  which is the kubelet's clusterDNS.

    python tools/k8s/node.py up               start detached; prints `export KUBECONFIG=...`
    python tools/k8s/node.py load IMAGE...    docker save IMAGE... | ctr import (into the node's containerd)
    python tools/k8s/node.py status           what runs
    python tools/k8s/node.py down             stop everything, remove pods, netns, iptables rules, mounts
    python tools/k8s/node.py run -- CMD       up, CMD with KUBECONFIG set, down

Root only (it creates a bridge, iptables rules and cgroups). Where things go:
``--workdir`` (default .cache/node: certificates, kubeconfig, logs, pids), the machine cache
(``$VOICE_K8S_CACHE``/node: containerd's images, the kubelet's volumes; kept between runs so
loaded images stay loaded) and /run/voice-agent-node (containerd's state and socket, CNI config).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import io
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cluster import SERVICE_CIDR, Cluster, ClusterError, default_bin_dir, default_etcd, free_port

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
NODE_NAME = "voice-node"
NODE_LABELS = {"voice-agent/pool": "cpu"}
BRIDGE = "voice-br0"
POD_SUBNET = "10.244.0.0/24"
NODE_IP = "10.244.0.1"  # the bridge's address: the pods' gateway, the node's InternalIP, CoreDNS's address
CLUSTER_CIDR = "10.244.0.0/16"
DNS_IP = "10.96.0.10"
# Pods' traffic to a ClusterIP that kube-proxy did not translate (a Service without ready endpoints)
# is refused on the node by a policy route (table and rule priority both this number).
SERVICE_REFUSE_TABLE = 10244
# The node set of tools/k8s/build.sh (`make node-tools`) the node cannot run without; kube-router, of the
# same set, only enforces NetworkPolicies and is started when present.
NODE_BINARIES = ("kubelet", "kube-proxy", "coredns")
CLUSTER_DOMAIN = "cluster.local"
PAUSE_TAG = "3.10.2"  # k8s.io/kubernetes build/pause/Makefile TAG of the module version
PAUSE_IMAGE = f"registry.k8s.io/pause:{PAUSE_TAG}"
RUN_DIR = Path("/run/voice-agent-node")
CNI_BIN = Path(os.environ.get("VOICE_CNI_BIN", "/usr/lib/cni"))
HOST_TOOLS = {  # what the node needs from Debian (make node-deps installs them)
    "containerd": "containerd", "ctr": "containerd", "runc": "runc", "iptables": "iptables",
    "conntrack": "conntrack", "ip": "iproute2", "gcc": "gcc", "ipset": "ipset",
}


def cache_root() -> Path:
    env = os.environ.get("VOICE_K8S_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "voice-agent-stack"


def log(msg: str) -> None:
    print(f">> {msg}", file=sys.stderr, flush=True)


def sh(*argv: str, check: bool = True, stdin: bytes | None = None, quiet: bool = False) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, input=stdin, capture_output=True, check=False)
    if check and proc.returncode != 0:
        raise ClusterError(f"{' '.join(argv)}: exit {proc.returncode}: {proc.stderr.decode(errors='replace')[-2000:]}")
    if not quiet and proc.returncode != 0:
        log(f"(ignored) {' '.join(argv)}: {proc.stderr.decode(errors='replace').strip()[-300:]}")
    return proc


def missing_host_tools() -> list[str]:
    missing = [f"{tool} (Debian package {pkg})" for tool, pkg in HOST_TOOLS.items() if not shutil.which(tool)]
    missing += [f"{CNI_BIN / p} (Debian package containernetworking-plugins)"
                for p in ("bridge", "host-local", "portmap", "loopback") if not (CNI_BIN / p).exists()]
    return missing


def pause_source() -> Path:
    """build/pause/linux/pause.c of the k8s.io/kubernetes module tools/k8s/go.mod pins (in the module cache)."""
    go = os.environ.get("GO") or shutil.which("go") or "/usr/local/go/bin/go"  # as build.sh finds it
    out = subprocess.run([go, "mod", "download", "-json", "k8s.io/kubernetes"], cwd=HERE, capture_output=True,
                         text=True, check=False, env={**os.environ, "GOFLAGS": "-mod=readonly"})
    try:
        src = Path(json.loads(out.stdout)["Dir"]) / "build/pause/linux/pause.c"
    except (ValueError, KeyError) as e:
        raise ClusterError(f"k8s.io/kubernetes module not found: {out.stderr[-500:]}") from e
    if not src.exists():
        raise ClusterError(f"no {src}")
    return src


def pause_oci_archive(binary: bytes) -> bytes:
    """An OCI image layout tar holding one layer with /pause, named PAUSE_IMAGE for ctr import."""
    def tar_bytes(files: dict[str, tuple[bytes, int]]) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name, (data, mode) in files.items():
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.mtime = len(data), mode, 0
                tar.addfile(info, io.BytesIO(data))
        return buf.getvalue()

    def blob(data: bytes, media_type: str) -> tuple[dict, str]:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        return {"mediaType": media_type, "digest": digest, "size": len(data)}, digest

    layer = tar_bytes({"pause": (binary, 0o755)})
    layer_desc, layer_digest = blob(layer, "application/vnd.oci.image.layer.v1.tar")
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Entrypoint": ["/pause"], "User": "65535:65535"},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    }).encode()
    config_desc, _ = blob(config, "application/vnd.oci.image.config.v1+json")
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": config_desc, "layers": [layer_desc]}).encode()
    manifest_desc, _ = blob(manifest, "application/vnd.oci.image.manifest.v1+json")
    manifest_desc["annotations"] = {"io.containerd.image.name": PAUSE_IMAGE,
                                    "org.opencontainers.image.ref.name": PAUSE_TAG}
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": [manifest_desc]}).encode()
    files = {"oci-layout": (b'{"imageLayoutVersion":"1.0.0"}', 0o644), "index.json": (index, 0o644)}
    for data in (layer, config, manifest):
        files["blobs/sha256/" + hashlib.sha256(data).hexdigest()] = (data, 0o644)
    return tar_bytes(files)


class Node:
    """Everything `up` starts, found again by `down` from the pid files in the work directory."""

    def __init__(self, workdir: Path, bin_dir: Path | None = None):
        self.workdir = workdir.resolve()
        self.bin_dir = bin_dir or default_bin_dir()
        self.data = cache_root() / "node"
        self.run = RUN_DIR
        self.cp: Cluster | None = None

    # -- paths ------------------------------------------------------------------------------------
    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def sock(self) -> Path:
        return self.run / "containerd.sock"

    @property
    def pids(self) -> Path:
        return self.workdir / "pids.json"

    def ctr(self, *args: str, check: bool = True, stdin: bytes | None = None) -> subprocess.CompletedProcess:
        return sh("ctr", "--address", str(self.sock), "--namespace", "k8s.io", *args, check=check, stdin=stdin)

    # -- up ---------------------------------------------------------------------------------------
    def up(self, timeout: float = 240.0) -> None:
        if os.geteuid() != 0:
            raise ClusterError("the node needs root (bridge, iptables, cgroups, mounts)")
        missing = missing_host_tools()
        if missing:
            raise ClusterError("missing: " + ", ".join(missing) + " (run `make node-deps`)")
        missing = [str(self.bin_dir / b) for b in NODE_BINARIES if not (self.bin_dir / b).exists()]
        if missing:
            raise ClusterError("missing: " + ", ".join(missing) + " (run `make node-tools`)")
        if self.pids.exists():
            raise ClusterError(f"already up ({self.pids}); `python tools/k8s/node.py down` first")
        started = time.monotonic()
        deadline = started + timeout
        shutil.rmtree(self.workdir / "logs", ignore_errors=True)  # this run's logs only
        for d in (self.workdir, self.workdir / "logs", self.data, self.run):
            d.mkdir(parents=True, exist_ok=True)
        # netns names present before us: down removes only the ones our pods leave behind.
        (self.workdir / "netns-before.json").write_text(json.dumps(sorted(self._netns())))
        cp = Cluster(self.workdir, bin_dir=self.bin_dir, etcd=default_etcd(), nodes=(), detach=True,
                     start_timeout=timeout)
        self.cp = cp
        try:
            cp.start()
            self._save_pids()
            log(f"control plane up in {time.monotonic() - started:.0f}s: {cp.server}")
            self._certificates()
            self._network()
            self._start_containerd(deadline)
            self._save_pids()
            self._import_pause()
            self._start_coredns(deadline)
            self._start_kube_proxy()
            self._start_kubelet()
            self._save_pids()
            cp._wait(deadline, f"node {NODE_NAME} Ready", self._node_ready, interval=1.0)
            self._start_network_policy()  # it looks its node up once, at start
            self._save_pids()
            self._dns_service()
            cp._wait(deadline, "CoreDNS ready", self._coredns_ready, interval=1.0)
            # Pods started before kube-proxy's first sync would reach no Service at all.
            cp._wait(deadline, f"kube-proxy's rules for kube-dns ({DNS_IP})", self._kube_proxy_synced, interval=0.5)
        except BaseException:
            self._save_pids()
            log("start failed; logs in " + str(self.workdir / "logs"))
            self.down()
            raise
        log(f"node {NODE_NAME} Ready, cluster up in {time.monotonic() - started:.0f}s")

    def _save_pids(self) -> None:
        state = {"procs": [{"name": p.name, "pid": p.popen.pid, "log": str(p.log)} for p in self.cp.processes],
                 "etcd_dir": str(self.cp.etcd_dir) if self.cp.etcd_dir else None,
                 "server": self.cp.server}
        self.pids.write_text(json.dumps(state, indent=1))

    def _cert(self, name: str, subject: str) -> None:
        cp = self.cp
        cp._openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject, "-config", "openssl.cnf")
        cp._openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                    "-set_serial", str(int.from_bytes(os.urandom(8), "big")), "-days", "7",
                    "-out", f"{name}.crt", "-extfile", "openssl.cnf", "-extensions", "client")

    def _client_kubeconfig(self, name: str, user: str) -> Path:
        p = self.cp._p

        def b64(f: str) -> str:
            return base64.b64encode(p(f).read_bytes()).decode()

        path = self.workdir / f"{name}.kubeconfig"
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "c",
            "clusters": [{"name": "c", "cluster": {"server": self.cp.server, "certificate-authority-data": b64("ca.crt")}}],
            "users": [{"name": user, "user": {"client-certificate-data": b64(f"{name}.crt"),
                                              "client-key-data": b64(f"{name}.key")}}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": user}}],
        }))
        path.chmod(0o600)
        return path

    def _certificates(self) -> None:
        # The kubelet as the Node authorizer expects it; kube-proxy bound by the default system:node-proxier.
        self._cert("kubelet", f"/O=system:nodes/CN=system:node:{NODE_NAME}")
        self._cert("kube-proxy", "/CN=system:kube-proxy")
        self._client_kubeconfig("kubelet", f"system:node:{NODE_NAME}")
        self._client_kubeconfig("kube-proxy", "system:kube-proxy")

    def _network(self) -> None:
        """The pod bridge with the node's address, bridged traffic through iptables, the CNI config."""
        if sh("ip", "link", "show", BRIDGE, check=False, quiet=True).returncode != 0:
            sh("ip", "link", "add", BRIDGE, "type", "bridge")
        sh("ip", "addr", "replace", f"{NODE_IP}/24", "dev", BRIDGE)
        sh("ip", "link", "set", BRIDGE, "up")
        # ClusterIPs never leave the node. Without this, a connection opened before kube-proxy has
        # programmed its Service follows the default route out; on a machine whose network answers
        # anything (seen here: an HTTP proxy answering 404), a keep-alive client stays pinned to that
        # answer (the gateway's LLM warm-up got 404s for 58 s). On the bridge it fails instead.
        sh("ip", "route", "replace", SERVICE_CIDR, "dev", BRIDGE)
        # A pod connecting to a Service with no ready endpoint must be refused at once, as kube-proxy's
        # REJECT rule does on other nodes. Here kube-router's FORWARD chain ACCEPTs pod traffic that
        # its policies allow before kube-proxy's rules are reached, so the SYN went onto the bridge and
        # the connect failed only when ARP gave up (3 s; the gateway's LLM client, retrying, told the
        # caller ~7 s after the LLM died, while its replacement was coming up). Routed from the bridge
        # (DNAT to a pod IP comes first, in PREROUTING) a ClusterIP is "prohibit": ICMP admin-prohibited,
        # which fails a connect at once. Traffic the node itself sends keeps the route above.
        table = str(SERVICE_REFUSE_TABLE)
        sh("ip", "rule", "del", "priority", table, check=False, quiet=True)
        sh("ip", "rule", "add", "priority", table, "iif", BRIDGE, "to", SERVICE_CIDR, "lookup", table)
        sh("ip", "route", "replace", "prohibit", SERVICE_CIDR, "table", table)
        for key, value in (("net/ipv4/ip_forward", "1"), ("net/bridge/bridge-nf-call-iptables", "1")):
            Path("/proc/sys", key).write_text(value)
        net_d = self.run / "cni" / "net.d"
        net_d.mkdir(parents=True, exist_ok=True)
        (net_d / "10-voice.conflist").write_text(json.dumps({
            "cniVersion": "1.0.0", "name": "voice",
            "plugins": [
                {"type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": True, "hairpinMode": True,
                 "ipam": {"type": "host-local", "dataDir": str(self.run / "cni" / "ipam"),
                          "ranges": [[{"subnet": POD_SUBNET, "gateway": NODE_IP}]],
                          "routes": [{"dst": "0.0.0.0/0"}]}},
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        }, indent=1))

    def _start_containerd(self, deadline: float) -> None:
        root = self.data / "containerd"
        config = self.run / "containerd.toml"
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        config.write_text(f"""version = 2
root = "{root}"
state = "{self.run / 'containerd-state'}"
[grpc]
  address = "{self.sock}"
[ttrpc]
  address = "{self.sock}.ttrpc"
[debug]
  address = "{self.run / 'containerd-debug.sock'}"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{self.data / 'opt'}"
[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  enable_selinux = false
  # No CAP_SYS_RESOURCE in some sandboxes (VMs, CI containers): an oom_score_adj below containerd's own
  # (the kubelet asks -998 for sandboxes) would fail every runc create.
  restrict_oom_score_adj = true
  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{cri}.containerd.runtimes.runc.options]
        SystemdCgroup = false
  [{cri}.cni]
    bin_dir = "{CNI_BIN}"
    conf_dir = "{self.run / 'cni' / 'net.d'}"
    max_conf_num = 1
""")
        self.cp._spawn("containerd", ["containerd", "--config", str(config), "--log-level", "warn"])
        self.cp._wait(deadline, "containerd", lambda: self.ctr("version", check=False).returncode == 0)

    def _import_pause(self) -> None:
        if PAUSE_IMAGE.encode() in self.ctr("images", "ls", "-q").stdout:
            return
        out = self.workdir / "pause"
        sh("gcc", "-Os", "-Wall", "-Werror", "-static", f"-DVERSION=v{PAUSE_TAG}-voice-agent",
           "-o", str(out), str(pause_source()))
        sh("strip", str(out), check=False)
        self.ctr("images", "import", "-", stdin=pause_oci_archive(out.read_bytes()))
        log(f"{PAUSE_IMAGE} built from pause.c and imported")

    def _start_coredns(self, deadline: float) -> None:
        self.health_port, self.ready_port = free_port(), free_port()
        corefile = self.workdir / "Corefile"
        corefile.write_text(f""".:53 {{
    bind {NODE_IP}
    errors
    health 127.0.0.1:{self.health_port}
    ready 127.0.0.1:{self.ready_port}
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {self.cp.kubeconfig} voice-test
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }}
    cache 5
    loadbalance
}}
""")
        (self.workdir / "coredns-ready-port").write_text(str(self.ready_port))
        self.cp._spawn("coredns", [str(self.bin_dir / "coredns"), "-conf", str(corefile)])

    def _start_kube_proxy(self) -> None:
        config = self.workdir / "kube-proxy.yaml"
        config.write_text(json.dumps({
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(self.workdir / "kube-proxy.kubeconfig")},
            "hostnameOverride": NODE_NAME, "mode": "iptables", "clusterCIDR": CLUSTER_CIDR,
            "bindAddress": "0.0.0.0",
            "healthzBindAddress": f"127.0.0.1:{free_port()}", "metricsBindAddress": f"127.0.0.1:{free_port()}",
            # Leave the host's conntrack table sizes alone.
            "conntrack": {"maxPerCore": 0, "min": 0},
            "nodePortAddresses": [f"{NODE_IP}/32", "127.0.0.0/8"],
        }))
        self.cp._spawn("kube-proxy", [str(self.bin_dir / "kube-proxy"), f"--config={config}", "--v=1"])

    def _start_network_policy(self) -> None:
        """kube-router's NetworkPolicy controller alone (iptables + ipset), when built: enforces the
        chart's policies. (kube-network-policies needs nftables' queue, which some kernels lack.)"""
        binary = self.bin_dir / "kube-router"
        if not binary.exists() or os.environ.get("VOICE_NODE_NETWORK_POLICY", "1") == "0":
            log("no NetworkPolicy enforcement (kube-router not built: `make node-tools`)")
            return
        self.cp._spawn("kube-router", [
            str(binary), f"--kubeconfig={self.cp.kubeconfig}", f"--hostname-override={NODE_NAME}",
            "--run-firewall=true", "--run-router=false", "--run-service-proxy=false", "--enable-cni=false",
            "--enable-ipv4=true", "--enable-ipv6=false", f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--metrics-port=0", f"--health-port={free_port()}", "--v=1",
        ])

    def _cgroup_v1(self) -> bool:
        return not Path("/sys/fs/cgroup/cgroup.controllers").exists()

    def _start_kubelet(self) -> None:
        root = self.data / "kubelet"
        root.mkdir(parents=True, exist_ok=True)
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
            "containerRuntimeEndpoint": f"unix://{self.sock}",
            "cgroupDriver": "cgroupfs",
            "failSwapOn": False,
            "address": NODE_IP, "port": free_port(), "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1", "healthzPort": free_port(),
            "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": False},
                               "x509": {"clientCAFile": str(self.cp._p("ca.crt"))}},
            "authorization": {"mode": "AlwaysAllow"},
            "clusterDNS": [DNS_IP], "clusterDomain": CLUSTER_DOMAIN,
            "resolvConf": "/etc/resolv.conf",
            # The disks here are shared and mostly full of other things: no eviction or image GC on
            # their account (the node is torn down after each run anyway).
            "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
            "imageGCHighThresholdPercent": 100,
            "serializeImagePulls": False,
            "nodeStatusReportFrequency": "10s",
        }
        if self._cgroup_v1():
            config["failCgroupV1"] = False  # kubelet >= 1.35 refuses cgroup v1 unless told
        path = self.workdir / "kubelet.yaml"
        path.write_text(json.dumps(config, indent=1))
        self.cp._spawn("kubelet", [
            str(self.bin_dir / "kubelet"), f"--config={path}",
            f"--kubeconfig={self.workdir / 'kubelet.kubeconfig'}", f"--root-dir={root}",
            f"--cert-dir={self.workdir / 'kubelet-pki'}",
            f"--hostname-override={NODE_NAME}", f"--node-ip={NODE_IP}",
            "--node-labels=" + ",".join(f"{k}={v}" for k, v in NODE_LABELS.items()),
            "--v=1",
        ])

    def _node_ready(self) -> bool:
        node = self.cp.get(f"/api/v1/nodes/{NODE_NAME}")
        if not node:
            return False
        ready = [c for c in node.get("status", {}).get("conditions", []) if c["type"] == "Ready"]
        taints = [t for t in node["spec"].get("taints", []) if t["key"].startswith("node.kubernetes.io/")]
        return bool(ready) and ready[0]["status"] == "True" and not taints

    def _dns_service(self) -> None:
        """kube-system/kube-dns at DNS_IP, its endpoint CoreDNS on the node (a host process)."""
        ports = [{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]
        labels = {"k8s-app": "kube-dns"}
        self.cp.request("POST", "/api/v1/namespaces/kube-system/services", {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": labels},
            "spec": {"clusterIP": DNS_IP, "ports": [{**p, "targetPort": 53} for p in ports]},
        })
        self.cp.request("POST", "/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices", {
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "kube-dns-node", "namespace": "kube-system",
                         "labels": {"kubernetes.io/service-name": "kube-dns",
                                    "endpointslice.kubernetes.io/managed-by": "voice-agent-node"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [NODE_IP], "conditions": {"ready": True}, "nodeName": NODE_NAME}],
            "ports": ports,
        })

    @staticmethod
    def _kube_proxy_synced() -> bool:
        rules = sh("iptables", "-t", "nat", "-S", "KUBE-SERVICES", check=False, quiet=True).stdout.decode()
        return f"-d {DNS_IP}/32" in rules

    def _coredns_ready(self) -> bool:
        import urllib.request
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ready_port}/ready", timeout=2) as r:
            return r.status == 200

    # -- images -----------------------------------------------------------------------------------
    def load(self, images: list[str], docker: str = "docker") -> None:
        """docker save | ctr import: the node's containerd then has them (imagePullPolicy IfNotPresent)."""
        started = time.monotonic()
        fresh = [i for i in images if self._image_id(i) != self._docker_id(docker, i)]
        if not fresh:
            log(f"all {len(images)} images already loaded (same image IDs)")
            return
        images = fresh
        save = subprocess.Popen([docker, "save", *images], stdout=subprocess.PIPE)
        imp = subprocess.run(["ctr", "--address", str(self.sock), "--namespace", "k8s.io", "images", "import", "-"],
                             stdin=save.stdout, capture_output=True, check=False)
        save.stdout.close()
        if save.wait() != 0 or imp.returncode != 0:
            raise ClusterError(f"docker save | ctr import failed: {imp.stderr.decode(errors='replace')[-1500:]}")
        log(f"loaded {len(images)} images in {time.monotonic() - started:.0f}s")

    @staticmethod
    def _docker_id(docker: str, image: str) -> str | None:
        out = sh(docker, "image", "inspect", "--format", "{{.Id}}", image, check=False, quiet=True)
        if out.returncode != 0:
            raise ClusterError(f"no image {image} in {docker}: build it first (make images)")
        return out.stdout.decode().strip()

    def _image_id(self, image: str) -> str | None:
        """The config digest (= docker's image ID) the node's containerd has under this name, if any."""
        name = image if "." in image.split("/", maxsplit=1)[0] and "/" in image else f"docker.io/{image}"
        listed = self.ctr("images", "ls", f"name=={name}", check=False).stdout.decode().splitlines()[1:]
        if not listed:
            return None
        manifest = self.ctr("content", "get", listed[0].split()[2], check=False).stdout
        try:
            return json.loads(manifest)["config"]["digest"]
        except (ValueError, KeyError):
            return None

    # -- down -------------------------------------------------------------------------------------
    def _netns(self) -> set[str]:
        d = Path("/var/run/netns")
        return {p.name for p in d.iterdir()} if d.is_dir() else set()

    def _state(self) -> dict:
        try:
            return json.loads(self.pids.read_text())
        except (OSError, ValueError):
            return {}

    @staticmethod
    def _alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        # A zombie of ours counts as gone.
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z":
                return False
        return True

    def _stop(self, name: str, pid: int, timeout: float = 20.0) -> None:
        if not self._alive(pid):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        end = time.monotonic() + timeout
        while time.monotonic() < end and self._alive(pid):
            time.sleep(0.2)
        if self._alive(pid):
            log(f"{name} ({pid}) did not stop on SIGTERM: SIGKILL")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _kubectl_delete_pods(self) -> None:
        """Let the kubelet stop every pod (CNI DEL, netns, mounts) while everything still runs."""
        kubectl = shutil.which("kubectl") or str(REPO / ".cache/bin/kubectl")
        if not Path(kubectl).exists() or not self.kubeconfig.exists():
            return
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        subprocess.run([kubectl, "delete", "pods", "--all", "--all-namespaces", "--grace-period=5", "--wait=true",
                        "--timeout=60s"], env=env, capture_output=True, check=False, timeout=90)
        end = time.monotonic() + 30
        while time.monotonic() < end:
            tasks = self.ctr("tasks", "ls", "-q", check=False).stdout.split()
            if not tasks:
                break
            time.sleep(1)

    def down(self) -> None:
        state = self._state()
        procs = {p["name"]: p["pid"] for p in state.get("procs", [])}
        if self.sock.exists() and procs.get("kubelet") and self._alive(procs["kubelet"]):
            with contextlib.suppress(Exception):
                self._kubectl_delete_pods()
        # The kubelet first (it would restart what we stop), containerd's containers, then the rest.
        order = ["kubelet", "kube-router", "kube-proxy", "coredns", "kube-scheduler", "kube-controller-manager"]
        for name in order:
            if name in procs:
                self._stop(name, procs[name])
        if procs.get("containerd") and self._alive(procs["containerd"]) and self.sock.exists():
            for task in self.ctr("tasks", "ls", "-q", check=False).stdout.decode().split():
                self.ctr("tasks", "kill", "--signal", "SIGKILL", task, check=False)
            time.sleep(1)
            for task in self.ctr("tasks", "ls", "-q", check=False).stdout.decode().split():
                self.ctr("tasks", "delete", "--force", task, check=False)
            for c in self.ctr("containers", "ls", "-q", check=False).stdout.decode().split():
                self.ctr("containers", "delete", c, check=False)
        for name in ("containerd", "kube-apiserver", "etcd"):
            if name in procs:
                self._stop(name, procs[name])
        for name, pid in procs.items():  # anything else
            self._stop(name, pid)
        # containerd-shim processes of ours (their socket path names our state dir) outlive containerd.
        for shim in self._our_shims():
            self._stop("containerd-shim", shim, timeout=5)
        # kube-proxy's and the CNI plugins' iptables rules.
        kube_proxy = self.bin_dir / "kube-proxy"
        if kube_proxy.exists():
            sh(str(kube_proxy), "--cleanup", check=False, quiet=True)
        if "kube-router" in procs:
            self._cleanup_kube_router()
        if "kubelet" in procs:
            self._cleanup_kubelet_chains()
        self._cleanup_cni_chains()
        self._unmount()
        before = set()
        with contextlib.suppress(OSError, ValueError):
            before = set(json.loads((self.workdir / "netns-before.json").read_text()))
        for ns in sorted(self._netns() - before):
            if ns.startswith("cni-"):
                sh("ip", "netns", "delete", ns, check=False)
        if sh("ip", "link", "show", BRIDGE, check=False, quiet=True).returncode == 0:
            sh("ip", "link", "delete", BRIDGE, check=False)
        sh("ip", "rule", "del", "priority", str(SERVICE_REFUSE_TABLE), check=False, quiet=True)
        sh("ip", "route", "flush", "table", str(SERVICE_REFUSE_TABLE), check=False, quiet=True)
        if state.get("etcd_dir"):
            shutil.rmtree(state["etcd_dir"], ignore_errors=True)
        shutil.rmtree(self.run, ignore_errors=True)
        # Pod volumes (emptyDirs with model copies) are per run; images stay in the cache.
        shutil.rmtree(self.data / "kubelet", ignore_errors=True)
        with contextlib.suppress(OSError):
            self.pids.unlink()
        log("node down")

    def _our_shims(self) -> list[int]:
        found = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cmd = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if cmd and cmd[0].endswith(b"containerd-shim-runc-v2") and str(self.sock).encode() in b" ".join(cmd):
                found.append(int(proc.name))
        return found

    @staticmethod
    def _remove_chains(table: str, prefixes: tuple[str, ...]) -> None:
        """Delete every chain of ``table`` named with one of ``prefixes``, and the jumps to them."""
        lines = sh("iptables-save", "-t", table, check=False, quiet=True).stdout.decode().splitlines()
        for line in lines:
            if not line.startswith("-A "):
                continue
            parts = shlex.split(line)  # comments are quoted, with spaces
            if not parts[1].startswith(prefixes) and "-j" in parts and parts[parts.index("-j") + 1].startswith(prefixes):
                sh("iptables", "-t", table, "-D", *parts[1:], check=False, quiet=True)
        chains = [line[1:].split()[0] for line in lines if line.startswith(":") and line[1:].startswith(prefixes)]
        for chain in chains:
            sh("iptables", "-t", table, "-F", chain, check=False, quiet=True)
        for chain in chains:
            sh("iptables", "-t", table, "-X", chain, check=False, quiet=True)

    def _cleanup_kube_router(self) -> None:
        """kube-router's filter chains and ipsets (its own --cleanup-config v2.1.0 leaves the empty
        chains and the sets, then crashes in the service proxy's cleanup, and would flush all IPVS)."""
        self._remove_chains("filter", ("KUBE-ROUTER-", "KUBE-POD-FW-", "KUBE-NWPLCY-"))
        for name in sh("ipset", "list", "-n", check=False, quiet=True).stdout.decode().split():
            if name.startswith(("KUBE-SRC-", "KUBE-DST-", "kube-router-")):
                sh("ipset", "destroy", name, check=False, quiet=True)

    def _cleanup_kubelet_chains(self) -> None:
        """The kubelet's own: KUBE-FIREWALL (drops non-local traffic to 127/8) and its canaries."""
        for table in ("filter", "nat", "mangle"):
            self._remove_chains(table, ("KUBE-FIREWALL", "KUBE-KUBELET-CANARY", "KUBE-IPTABLES-HINT"))

    def _cleanup_cni_chains(self) -> None:
        """Chains the bridge (ipMasq) and portmap plugins leave for sandboxes never torn down."""
        for table in ("nat", "filter"):
            rules = sh("iptables-save", "-t", table, check=False, quiet=True).stdout.decode().splitlines()
            chains = set()
            for line in rules:
                if line.startswith("-A") and ("CNI-" in line) and ('\\"voice\\"' in line or "10.244." in line):
                    parts = shlex.split(line)
                    if "-j" in parts and parts[parts.index("-j") + 1].startswith("CNI-") \
                            and not parts[parts.index("-j") + 1].startswith("CNI-HOSTPORT-"):
                        chains.add(parts[parts.index("-j") + 1])
                    sh("iptables", "-t", table, "-D", *parts[1:], check=False, quiet=True)
            for chain in chains:
                sh("iptables", "-t", table, "-F", chain, check=False, quiet=True)
                sh("iptables", "-t", table, "-X", chain, check=False, quiet=True)

    def _unmount(self) -> None:
        roots = [str(self.data), str(self.run)]
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
        for m in sorted((m for m in mounts if any(m.startswith(r) for r in roots)), key=len, reverse=True):
            sh("umount", "-l", m, check=False)

    def status(self) -> int:
        state = self._state()
        if not state:
            print("down")
            return 1
        for p in state.get("procs", []):
            print(f"{p['name']:<24} pid {p['pid']:<8} {'running' if self._alive(p['pid']) else 'EXITED'}  {p['log']}")
        print(f"export KUBECONFIG={self.kubeconfig}")
        return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", type=Path, default=REPO / ".cache" / "node")
    ap.add_argument("--bin-dir", type=Path, help="kube-* binaries (default: tools/k8s/build.sh --print)")
    ap.add_argument("--timeout", type=float, default=240.0)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("up", help="start detached")
    sub.add_parser("down", help="stop and clean up")
    sub.add_parser("status", help="what runs")
    load = sub.add_parser("load", help="docker save IMAGE... | ctr import")
    load.add_argument("--docker", default=os.environ.get("DOCKER", "docker"))
    load.add_argument("images", nargs="+")
    run = sub.add_parser("run", help="up, run a command with KUBECONFIG set, down")
    run.add_argument("argv", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    node = Node(args.workdir, bin_dir=args.bin_dir)
    try:
        if args.cmd == "up":
            node.up(timeout=args.timeout)
            print(f"export KUBECONFIG={node.kubeconfig}", flush=True)
        elif args.cmd == "down":
            node.down()
        elif args.cmd == "status":
            return node.status()
        elif args.cmd == "load":
            node.load(args.images, docker=args.docker)
        elif args.cmd == "run":
            command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
            if not command:
                ap.error("run needs a command")
            node.up(timeout=args.timeout)
            try:
                return subprocess.run(command, check=False,
                                      env={**os.environ, "KUBECONFIG": str(node.kubeconfig)}).returncode
            finally:
                node.down()
    except ClusterError as e:
        print(f"node: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
