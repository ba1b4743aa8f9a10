"""How long a kube-apiserver restart takes on the bed's node, and what the bed costs.

From the moment a new manifest replaces the old one (a rename, as kaudit writes it):
  stop     seconds until the old API server stops answering /readyz
  ready    seconds until the new one answers /readyz with ok
  audit    seconds until the new one's first audit event is in its log file
Each restart turns audit logging on with a log file of its own (so the first event in it is the
new server's); the original manifest is put back at the end. Also measured: the bed's cold start
(`node.sh down` then `up`, with the build caches warm), its warm start (`up` on a healthy bed),
the machine's peak memory use during each, and the node processes' resident memory.

Prints numbers; asserts nothing about time. Run as root on a machine with the bed's deps:

    python3 bench/apiserver_restart.py [--restarts 5] [--no-cold]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
NODE_SH = REPO_ROOT / "hack" / "testbed" / "node.sh"
POLL_SECONDS = 0.05


def run_node_sh(*args: str) -> str:
    return subprocess.run(
        ["bash", str(NODE_SH), *args], capture_output=True, text=True, check=True
    ).stdout


def env_of_bed() -> dict[str, str]:
    values = {}
    for line in run_node_sh("env").splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        values[name] = value
    return values


def used_memory_mib() -> float:
    info = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, _, rest = line.partition(":")
        info[key] = int(rest.split()[0])
    return (info["MemTotal"] - info["MemAvailable"]) / 1024


class MemoryPeak:
    """Samples the machine's used memory in a thread; .peak is the highest seen (MiB)."""

    def __init__(self) -> None:
        self.peak = used_memory_mib()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, used_memory_mib())

    def __enter__(self) -> MemoryPeak:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


class ApiClient:
    """/readyz against the node's API server with the admin client certificate."""

    def __init__(self, kubeconfig: Path) -> None:
        config = yaml.safe_load(kubeconfig.read_text())
        cluster = config["clusters"][0]["cluster"]
        user = config["users"][0]["user"]
        host_port = cluster["server"].removeprefix("https://")
        self.host, _, port = host_port.rpartition(":")
        self.port = int(port)
        self._dir = tempfile.TemporaryDirectory()
        folder = Path(self._dir.name)
        for name, key in (
            ("ca", "certificate-authority-data"),
            ("cert", "client-certificate-data"),
            ("key", "client-key-data"),
        ):
            (folder / name).write_bytes(base64.b64decode(user.get(key) or cluster[key]))
        self.context = ssl.create_default_context(cafile=str(folder / "ca"))
        self.context.load_cert_chain(str(folder / "cert"), str(folder / "key"))

    def ready(self) -> bool:
        connection = http.client.HTTPSConnection(
            self.host, self.port, context=self.context, timeout=1
        )
        try:
            connection.request("GET", "/readyz")
            response = connection.getresponse()
            return response.status == 200 and response.read().strip() == b"ok"
        except (OSError, http.client.HTTPException):
            return False
        finally:
            connection.close()


def manifest_with_audit(original: str, log_name: str) -> str:
    pod = yaml.safe_load(original)
    container = pod["spec"]["containers"][0]
    container["command"] = [a for a in container["command"] if not a.startswith("--audit-")] + [
        f"--audit-log-path=/var/log/kubernetes/audit/{log_name}",
        "--audit-policy-file=/etc/kubernetes/audit-policy/bench-policy.yaml",
        "--audit-log-maxbackup=1",
    ]
    mounts = [m for m in container.get("volumeMounts", []) if not m["name"].startswith("bench-")]
    container["volumeMounts"] = [
        *mounts,
        {"name": "bench-audit-logs", "mountPath": "/var/log/kubernetes/audit"},
        {
            "name": "bench-audit-policy",
            "mountPath": "/etc/kubernetes/audit-policy",
            "readOnly": True,
        },
    ]
    volumes = [v for v in pod["spec"].get("volumes", []) if not v["name"].startswith("bench-")]
    pod["spec"]["volumes"] = [
        *volumes,
        {
            "name": "bench-audit-logs",
            "hostPath": {"path": "/var/log/kubernetes/audit", "type": "DirectoryOrCreate"},
        },
        {
            "name": "bench-audit-policy",
            "hostPath": {"path": "/etc/kubernetes/audit-policy", "type": "DirectoryOrCreate"},
        },
    ]
    return str(yaml.safe_dump(pod, sort_keys=False))


def replace_manifest(path: Path, text: str) -> float:
    temporary = path.with_name(".kube-apiserver.yaml.bench")
    temporary.write_text(text)
    os.replace(temporary, path)
    return time.monotonic()


def apiserver_pids(ip: str) -> set[int]:
    """PIDs of the node's kube-apiserver processes (the host shares the node's PID namespace)."""
    pids = set()
    marker = f"--advertise-address={ip}".encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"kube-apiserver") and marker in argv:
            pids.add(int(proc.name))
    return pids


def measure_restart(api: ApiClient, manifest: Path, text: str, log_file: Path) -> dict[str, float]:
    old = apiserver_pids(api.host)
    start = replace_manifest(manifest, text)
    times: dict[str, float] = {}
    deadline = start + 300
    while time.monotonic() < deadline:
        now = time.monotonic()
        ready = api.ready()
        pids = apiserver_pids(api.host)
        if "stop" not in times:
            if not ready:
                times["stop"] = now - start
        elif "ready" not in times and ready:
            times["ready"] = now - start
        if "old_exit" not in times and not (pids & old):
            times["old_exit"] = now - start
        if "new_process" not in times and pids - old:
            times["new_process"] = now - start
        if "audit" not in times and log_file.is_file() and log_file.stat().st_size > 0:
            times["audit"] = now - start
        if len(times) == 5:
            return times
        time.sleep(POLL_SECONDS)
    raise RuntimeError(f"restart did not finish in 300 s; seen so far: {times}")


def wait_ready(api: ApiClient, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if api.ready():
            return
        time.sleep(0.2)
    raise RuntimeError("the API server did not come back")


def timed_up() -> tuple[float, float]:
    with MemoryPeak() as memory:
        started = time.monotonic()
        run_node_sh("up")
        return time.monotonic() - started, memory.peak


def node_rss_mib() -> dict[str, float]:
    names = {
        "kube-apiserver",
        "etcd",
        "kubelet",
        "containerd",
        "kube-controller-manager",
        "kube-scheduler",
        "kube-proxy",
    }
    rss: dict[str, float] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv0 = (proc / "cmdline").read_bytes().split(b"\0")[0].decode()
            status = (proc / "status").read_text()
        except (OSError, UnicodeDecodeError, IndexError):
            continue
        name = Path(argv0).name
        if name in names:
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    rss[name] = rss.get(name, 0) + int(line.split()[1]) / 1024
    return rss


def summary(label: str, values: list[float]) -> str:
    return (
        f"{label:<34} min {min(values):7.2f}  median {statistics.median(values):7.2f}  "
        f"max {max(values):7.2f}  (n={len(values)})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--restarts", type=int, default=5)
    parser.add_argument("--no-cold", action="store_true", help="skip the cold bed start")
    options = parser.parse_args()
    results: dict[str, Any] = {}

    baseline = used_memory_mib()
    if not options.no_cold:
        run_node_sh("down")
        baseline = used_memory_mib()
        results["cold_up_s"], results["cold_up_peak_used_mib"] = timed_up()
    results["warm_up_s"], _ = timed_up()
    results["machine_used_mib_before_bed"] = baseline
    results["machine_used_mib_with_bed"] = used_memory_mib()
    results["node_rss_mib"] = {k: round(v) for k, v in sorted(node_rss_mib().items())}

    env = env_of_bed()
    root = Path(env["KAUDIT_NODE_ROOT"])
    manifest = root / "etc/kubernetes/manifests/kube-apiserver.yaml"
    policy = root / "etc/kubernetes/audit-policy/bench-policy.yaml"
    audit_dir = root / "var/log/kubernetes/audit"
    api = ApiClient(Path(env["KUBECONFIG"]))
    original = manifest.read_text()
    policy.parent.mkdir(parents=True, exist_ok=True)
    policy.write_text("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n")
    runs: list[dict[str, float]] = []
    try:
        with MemoryPeak() as memory:
            for i in range(options.restarts):
                log_name = f"bench-{os.getpid()}-{i}.log"
                times = measure_restart(
                    api, manifest, manifest_with_audit(original, log_name), audit_dir / log_name
                )
                runs.append(times)
                print(
                    f"restart {i + 1}: " + "  ".join(f"{k} {v:.2f}s" for k, v in times.items()),
                    flush=True,
                )
                time.sleep(2)
        results["restarts_peak_used_mib"] = memory.peak
    finally:
        replace_manifest(manifest, original)
        wait_ready(api)
        policy.unlink(missing_ok=True)
        for file in audit_dir.glob(f"bench-{os.getpid()}-*.log"):
            file.unlink()

    print()
    print(f"kube-apiserver restart on the bed, seconds from manifest replace (n={len(runs)}):")
    for key, label in (
        ("stop", "old server stops answering /readyz"),
        ("old_exit", "old server process gone"),
        ("new_process", "new server process started"),
        ("ready", "new server answers /readyz"),
        ("audit", "first audit event in the new log"),
    ):
        print("  " + summary(label, [r[key] for r in runs]))
    print()
    print(
        json.dumps(
            {k: round(v, 1) if isinstance(v, float) else v for k, v in results.items()}, indent=2
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
