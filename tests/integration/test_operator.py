"""The controller and three node agents, as real processes, against a real API server.

Tier 1 has no kubelet, so no API server restarts here: these tests cover what happens before
and around a restart (the webhook, the server-side dry-run that keeps a bad manifest off the
disk, per-node status merging, conditions, Events, the finalizer). Restarts are end-to-end tests.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.operator_fixtures import (
    KUBEADM_MANIFEST,
    Processes,
    audit_config,
    conditions,
    free_port,
    node_entries,
    running_processes,
    wait_for,
)
from tests.testbed import REPO_ROOT, Cluster
from tests.unit.test_kubeadm_config import V1BETA4

NODES = ("cp-a", "cp-b", "cp-c")


@pytest.fixture
def processes(apiserver: Cluster, tmp_path: Path) -> Iterator[Processes]:
    yield from running_processes(apiserver, tmp_path)


@pytest.fixture
def cluster_ready(apiserver: Cluster) -> Iterator[Cluster]:
    """CRD, namespace and the nodes the agents stand for (Node objects; no kubelet in tier 1)."""
    apiserver.kubectl("apply", "--server-side", "-f", str(REPO_ROOT / "crds" / "auditconfig.yaml"))
    apiserver.kubectl(
        "wait", "--for=condition=Established", "crd/auditconfigs.kaudit.io", "--timeout=60s"
    )
    apiserver.kubectl("apply", "-f", str(REPO_ROOT / "deploy" / "namespace.yaml"))
    # kube-controller-manager creates each namespace's default ServiceAccount; tier 1 has none,
    # and the ServiceAccount admission plugin needs it for the agents' dry-run pods.
    apiserver.kubectl("create", "serviceaccount", "default", "-n", "kaudit-node", check=False)
    for node in NODES:
        apiserver.apply(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {
                        "name": node,
                        "labels": {"node-role.kubernetes.io/control-plane": ""},
                    },
                }
            )
        )
    yield apiserver
    apiserver.kubectl("delete", "auditconfig", "cluster", "--wait=false", check=False)
    apiserver.kubectl(
        "patch",
        "auditconfig",
        "cluster",
        "--type=merge",
        "-p",
        '{"metadata":{"finalizers":null}}',
        check=False,
    )
    apiserver.kubectl("delete", "validatingwebhookconfiguration", "kaudit.io", check=False)
    apiserver.kubectl("delete", "lease", "kaudit-rollout", "-n", "kaudit-node", check=False)
    for node in NODES:
        apiserver.kubectl("delete", "node", node, "--wait=false", check=False)


def start_controller(processes: Processes, cluster: Cluster) -> None:
    processes.start(
        "controller",
        "controller",
        "--webhook-url-host=127.0.0.1",
        f"--webhook-port={free_port()}",
    )
    wait_for(
        "the controller to register its validating webhook",
        lambda: (
            cluster.kubectl(
                "get", "validatingwebhookconfiguration", "kaudit.io", check=False
            ).returncode
            == 0
        ),
    )


def make_host(root: Path, manifest: str) -> Path:
    path = root / "etc/kubernetes/manifests/kube-apiserver.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(manifest)
    return root


def start_agents(processes: Processes, cluster: Cluster, hosts: dict[str, Path]) -> None:
    for node, root in hosts.items():
        processes.start(
            f"agent-{node}",
            "agent",
            f"--node-name={node}",
            f"--host-root={root}",
            f"--readyz-url={cluster.server}/readyz",
        )


def apply_config(cluster: Cluster, spec: str) -> tuple[int, str]:
    manifest = "apiVersion: kaudit.io/v1alpha1\nkind: AuditConfig\nmetadata:\n  name: cluster\n"
    manifest += "spec:\n" + textwrap.indent(textwrap.dedent(spec), "  ")
    result = cluster.kubectl("apply", "-f", "-", input=manifest, check=False)
    return result.returncode, result.stderr


@pytest.fixture
def kubeadm_config(cluster_ready: Cluster) -> Iterator[Cluster]:
    """kube-system/kubeadm-config as kubeadm 1.34 uploads it: tier 1 becomes a kubeadm cluster."""
    manifest = json.dumps(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "kubeadm-config", "namespace": "kube-system"},
            "data": {"ClusterConfiguration": V1BETA4},
        }
    )
    cluster_ready.kubectl("create", "-f", "-", input=manifest)
    yield cluster_ready
    cluster_ready.kubectl("delete", "configmap", "kubeadm-config", "-n", "kube-system")


def kubeadm_config_map(cluster: Cluster) -> dict[str, Any]:
    found: dict[str, Any] = cluster.kubectl_json(
        "get", "configmap", "kubeadm-config", "-n", "kube-system"
    )
    return found


def kubeadm_status(cluster: Cluster) -> str:
    return str(((audit_config(cluster) or {}).get("status") or {}).get("kubeadmConfig") or "")


def events(cluster: Cluster) -> list[dict[str, Any]]:
    listed = cluster.kubectl_json(
        "get", "events", "-n", "default", "--field-selector", "involvedObject.name=cluster"
    )
    return list(listed["items"])


def test_webhook_refuses_a_policy_kube_apiserver_would_not_load(
    cluster_ready: Cluster, processes: Processes
) -> None:
    start_controller(processes, cluster_ready)
    code, err = apply_config(
        cluster_ready,
        """\
        policy:
          rules:
            - level: Metadata
              nonResourceURLs: ["/logs/*.log"]
        """,
    )
    assert code != 0
    assert 'admission webhook "validate-create.kaudit.io" denied the request' in err
    assert "rules[0].nonResourceURLs[0]" in err
    assert audit_config(cluster_ready) is None


def test_webhook_accepts_a_policy_with_a_dead_rule_and_warns(
    cluster_ready: Cluster, processes: Processes
) -> None:
    start_controller(processes, cluster_ready)
    code, err = apply_config(
        cluster_ready,
        """\
        policy:
          rules:
            - level: None
              users: [kube-admin]
            - level: Request
              users: [kube-admin]
              verbs: [create]
            - level: Metadata
        """,
    )
    assert code == 0, err
    assert "Warning:" in err
    assert "rules[1]" in err


def test_a_manifest_the_api_server_rejects_is_never_written_and_stops_the_rollout(
    cluster_ready: Cluster, processes: Processes, tmp_path: Path
) -> None:
    kubeadm = KUBEADM_MANIFEST.read_text()
    # cp-a's manifest has a resource quantity the API server refuses: the dry-run must catch it.
    broken = kubeadm.replace("cpu: 250m", "cpu: 250 millicores")
    hosts = {
        "cp-a": make_host(tmp_path / "cp-a", broken),
        "cp-b": make_host(tmp_path / "cp-b", kubeadm),
        "cp-c": make_host(tmp_path / "cp-c", kubeadm),
    }
    start_controller(processes, cluster_ready)
    start_agents(processes, cluster_ready, hosts)
    code, err = apply_config(cluster_ready, "rollout: {healthTimeoutSeconds: 10}\n")
    assert code == 0, err

    entries = wait_for(
        "cp-a Failed and the others stopped",
        lambda: (
            (found := node_entries(cluster_ready)).get("cp-a", {}).get("phase") == "Failed"
            and all(
                "rollout stopped" in found.get(n, {}).get("message", "") for n in ("cp-b", "cp-c")
            )
            and found
        ),
    )
    # Three agents wrote three entries through server-side apply, none lost.
    assert set(entries) == set(NODES)
    assert "dry-run" in entries["cp-a"]["message"]
    assert "quantities must match" in entries["cp-a"]["lastFailedReason"]
    assert entries["cp-a"]["failureCount"] == 1
    for node in ("cp-b", "cp-c"):
        assert entries[node]["phase"] == "Pending"
        assert "cp-a Failed" in entries[node]["message"]
    # Nothing was written anywhere: manifests untouched, no policy file, no backup.
    for node, root in hosts.items():
        manifest = root / "etc/kubernetes/manifests/kube-apiserver.yaml"
        assert manifest.read_text() == (broken if node == "cp-a" else kubeadm)
        assert not (root / "etc/kubernetes/audit-policy").exists()
    managers = {
        m["manager"]
        for m in cluster_ready.kubectl_json(
            "get", "auditconfig", "cluster", "--show-managed-fields"
        )["metadata"]["managedFields"]
    }
    assert {
        "kaudit-agent-cp-a",
        "kaudit-agent-cp-b",
        "kaudit-agent-cp-c",
        "kaudit-controller",
    } <= managers

    found = wait_for(
        "the controller to mark the rollout stalled",
        lambda: (c := conditions(cluster_ready)).get("Stalled", {}).get("status") == "True" and c,
    )
    assert found["Stalled"]["reason"] == "NodeFailed"
    assert found["Reconciling"]["status"] == "False"
    assert found["Ready"]["status"] == "False"
    generation = audit_config(cluster_ready)["metadata"]["generation"]  # type: ignore[index]
    assert all(c["observedGeneration"] == generation for c in found.values())
    table = cluster_ready.kubectl("get", "auditconfig").stdout.splitlines()[1].split()
    assert table[1:6] == ["true", "preset", "Recommended", "0/3", "Degraded"]
    reasons = wait_for(
        "a Failed event for cp-a",
        lambda: (r := {e["reason"] for e in events(cluster_ready)}) and "Failed" in r and r,
    )
    assert "AuditConfigDegraded" in reasons
    # Tier 1 was not made by kubeadm: the controller says so, and writes nothing.
    assert kubeadm_status(cluster_ready) == (
        "not a kubeadm cluster: no ConfigMap kube-system/kubeadm-config"
    )


def test_kubeadm_config_is_not_recorded_before_the_rollout_completes(
    kubeadm_config: Cluster, processes: Processes
) -> None:
    # No agent runs, so no node is ever Applied: the ConfigMap must stay as kubeadm wrote it.
    start_controller(processes, kubeadm_config)
    code, err = apply_config(kubeadm_config, "enabled: true\n")
    assert code == 0, err
    wait_for(
        "the controller to report it waits for the rollout",
        lambda: kubeadm_status(kubeadm_config).startswith("waiting for every node to apply"),
    )
    assert kubeadm_config_map(kubeadm_config)["data"]["ClusterConfiguration"] == V1BETA4
    code, err = apply_config(kubeadm_config, "kubeadmConfig: {record: false}\n")
    assert code == 0, err
    wait_for(
        "the opt-out to show",
        lambda: (
            kubeadm_status(kubeadm_config) == "not recorded: spec.kubeadmConfig.record is false"
        ),
    )
    assert kubeadm_config_map(kubeadm_config)["data"]["ClusterConfiguration"] == V1BETA4


def test_deleting_the_auditconfig_waits_for_every_node_to_be_disabled(
    kubeadm_config: Cluster, processes: Processes, tmp_path: Path
) -> None:
    cluster_ready = kubeadm_config
    # As if kaudit had recorded the audit settings in kubeadm's configuration earlier.
    cluster_ready.kubectl(
        "annotate",
        "configmap",
        "kubeadm-config",
        "-n",
        "kube-system",
        "kaudit.io/kubeadm-config-recorded=true",
    )
    recorded = V1BETA4.replace(
        "  - 10.231.0.10\n",
        "  - 10.231.0.10\n  extraArgs:\n  - name: audit-log-maxage\n    value: '30'\n",
    )
    cluster_ready.kubectl(
        "patch",
        "configmap",
        "kubeadm-config",
        "-n",
        "kube-system",
        "--type=merge",
        "-p",
        json.dumps({"data": {"ClusterConfiguration": recorded}}),
    )
    kubeadm = KUBEADM_MANIFEST.read_text()
    hosts = {node: make_host(tmp_path / node, kubeadm) for node in NODES}
    start_controller(processes, cluster_ready)
    code, err = apply_config(cluster_ready, "enabled: false\n")
    assert code == 0, err
    finalizers = wait_for(
        "the controller's finalizer",
        lambda: (audit_config(cluster_ready) or {}).get("metadata", {}).get("finalizers"),
    )
    assert finalizers == ["kaudit.io/finalizer"]
    cluster_ready.kubectl("delete", "auditconfig", "cluster", "--wait=false")
    # No agent runs yet: nobody has confirmed audit logging is off, so the object stays.
    held = wait_for(
        "the deletion to be held",
        lambda: (
            (body := audit_config(cluster_ready))
            and body["metadata"].get("deletionTimestamp")
            and body
        ),
    )
    assert held["metadata"]["finalizers"] == ["kaudit.io/finalizer"]
    # Nor is kubeadm's record touched while a node may still run audit logging.
    assert kubeadm_config_map(cluster_ready)["data"]["ClusterConfiguration"] == recorded
    start_agents(processes, cluster_ready, hosts)
    wait_for("the AuditConfig to be gone", lambda: audit_config(cluster_ready) is None, timeout=120)
    for root in hosts.values():
        assert (root / "etc/kubernetes/manifests/kube-apiserver.yaml").read_text() == kubeadm
    # Every node off: what kaudit recorded in kubeadm's configuration is gone, with its marker.
    config_map = kubeadm_config_map(cluster_ready)
    assert config_map["data"]["ClusterConfiguration"] == V1BETA4
    annotations = config_map["metadata"].get("annotations") or {}
    assert "kaudit.io/kubeadm-config-recorded" not in annotations
    reasons = {e["reason"] for e in events(cluster_ready)}
    assert "KubeadmConfigRemoved" in reasons


def test_the_entry_of_a_deleted_node_goes_and_that_of_an_unselected_node_stays(
    cluster_ready: Cluster, processes: Processes, tmp_path: Path
) -> None:
    """The controller drops an entry only when its Node is gone from the cluster.

    cp-b leaves (agent stopped, Node deleted): no agent is left to remove its entry. cp-c loses
    the control-plane label while its agent is down: it still exists, so its entry stays until
    its agent comes back and removes it.
    """
    kubeadm = KUBEADM_MANIFEST.read_text()
    agents = {
        node: processes.start(
            f"agent-{node}",
            "agent",
            f"--node-name={node}",
            f"--host-root={make_host(tmp_path / node, kubeadm)}",
            f"--readyz-url={cluster_ready.server}/readyz",
        )
        for node in NODES
    }
    start_controller(processes, cluster_ready)
    code, err = apply_config(cluster_ready, "enabled: false\n")
    assert code == 0, err
    wait_for(
        "every node Disabled",
        lambda: (
            {n: e.get("phase") for n, e in node_entries(cluster_ready).items()}
            == dict.fromkeys(NODES, "Disabled")
        ),
    )
    agents["cp-b"].stop()
    agents["cp-c"].stop()
    cluster_ready.kubectl("label", "node", "cp-c", "node-role.kubernetes.io/control-plane-")
    cluster_ready.kubectl("delete", "node", "cp-b")
    wait_for("cp-b's entry to go", lambda: "cp-b" not in node_entries(cluster_ready), timeout=60)
    assert set(node_entries(cluster_ready)) == {"cp-a", "cp-c"}
    body = audit_config(cluster_ready)
    assert body is not None
    assert body["status"]["rolloutOrder"] == ["cp-a"]
    assert body["status"]["nodesReady"] == "1/1"
