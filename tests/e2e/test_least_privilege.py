"""What kaudit's ServiceAccounts may do on the bed, as deployed from deploy/.

Two kinds of proof. `kubectl auth can-i --as=...` shows what RBAC grants each ServiceAccount.
What RBAC cannot express is enforced at admission (the ValidatingAdmissionPolicies in
deploy/admission-policies.yaml), which `can-i` does not see: those are real requests, made
with a token the API server binds to the running agent pod, exactly as the agent's own.
Last, the escape hatch: with the controller down, the finalizer still comes off by hand.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509

from tests.e2e.operator_support import undeploy, wait_until
from tests.testbed import REPO_ROOT, BedNode

pytestmark = pytest.mark.e2e

AGENT = "system:serviceaccount:kaudit-node:kaudit-agent"
CONTROLLER = "system:serviceaccount:kaudit-system:kaudit-controller"
AGENT_POD = "agent-pod"

# (who, verb, resource, namespace or "" for cluster-wide/cluster-scoped, allowed)
MATRIX = [
    # the agent: what it needs
    (AGENT, "create", "pods", "kaudit-node", True),  # the dry-run (admission refuses a real one)
    (AGENT, "get", "leases/kaudit-rollout", "kaudit-node", True),
    (AGENT, "update", "leases/kaudit-rollout", "kaudit-node", True),
    (AGENT, "create", "leases", "kaudit-node", True),  # admission: only kaudit-rollout
    (AGENT, "get", "pods/kube-apiserver-cp-1", "kube-system", True),
    (AGENT, "watch", "configmaps", "kaudit-system", True),
    (AGENT, "create", "events", "default", True),
    (AGENT, "patch", "auditconfigs.kaudit.io/cluster --subresource=status", "", True),
    (AGENT, "watch", "auditconfigs.kaudit.io", "", True),
    # the agent: what it must not
    (AGENT, "create", "pods", "", False),  # cluster-wide
    (AGENT, "create", "pods", "kaudit-system", False),  # would run as the controller's account
    (AGENT, "create", "pods", "kube-system", False),
    (AGENT, "create", "pods", "default", False),
    (AGENT, "delete", "pods", "kaudit-node", False),
    (AGENT, "create", "pods/exec", "kube-system", False),
    (AGENT, "list", "pods", "kube-system", False),
    (AGENT, "get", "secrets", "kaudit-node", False),
    (AGENT, "list", "secrets", "", False),
    (AGENT, "create", "serviceaccounts/token", "kaudit-system", False),
    (AGENT, "update", "leases/kube-controller-manager", "kube-system", False),
    (AGENT, "update", "leases/other", "kaudit-node", False),
    (AGENT, "delete", "leases/kaudit-rollout", "kaudit-node", False),
    (AGENT, "create", "leases", "kube-system", False),
    (AGENT, "create", "events", "kube-system", False),
    (AGENT, "create", "events", "", False),
    (AGENT, "get", "configmaps", "kube-system", False),
    (AGENT, "update", "configmaps", "kaudit-system", False),
    (AGENT, "patch", "auditconfigs.kaudit.io/cluster", "", False),
    (AGENT, "patch", "nodes", "", False),
    (AGENT, "patch", "validatingwebhookconfigurations/kaudit.io", "", False),
    # the controller: what it needs
    (CONTROLLER, "patch", "validatingwebhookconfigurations/kaudit.io", "", True),
    (CONTROLLER, "patch", "auditconfigs.kaudit.io/cluster", "", True),
    (CONTROLLER, "patch", "auditconfigs.kaudit.io/cluster --subresource=status", "", True),
    (CONTROLLER, "watch", "configmaps", "kaudit-system", True),
    (CONTROLLER, "update", "configmaps/kubeadm-config", "kube-system", True),
    (CONTROLLER, "create", "events", "default", True),
    (CONTROLLER, "list", "nodes", "", True),
    # the controller: what it must not
    (CONTROLLER, "create", "validatingwebhookconfigurations", "", False),
    (CONTROLLER, "patch", "validatingwebhookconfigurations/other", "", False),
    (CONTROLLER, "delete", "validatingwebhookconfigurations/kaudit.io", "", False),
    (CONTROLLER, "patch", "mutatingwebhookconfigurations/kaudit.io", "", False),
    (CONTROLLER, "create", "mutatingwebhookconfigurations", "", False),
    (CONTROLLER, "patch", "validatingadmissionpolicies/kaudit-agent-dry-run-only", "", False),
    (CONTROLLER, "get", "secrets", "kaudit-system", False),
    (CONTROLLER, "list", "secrets", "", False),
    (CONTROLLER, "create", "pods", "kaudit-system", False),
    (CONTROLLER, "create", "pods", "kaudit-node", False),
    (CONTROLLER, "get", "configmaps/coredns", "kube-system", False),
    (CONTROLLER, "create", "configmaps", "kube-system", False),
    (CONTROLLER, "update", "configmaps", "kaudit-system", False),
    (CONTROLLER, "update", "leases", "kaudit-node", False),
    (CONTROLLER, "create", "events", "kube-system", False),
    (CONTROLLER, "delete", "auditconfigs.kaudit.io/cluster", "", False),
]

PROBE_POD = """\
apiVersion: v1
kind: Pod
metadata: {name: kaudit-probe, namespace: kaudit-node}
spec:
  containers: [{name: probe, image: localhost/kaudit-base:bookworm, command: [sleep, "1"]}]
"""


@pytest.fixture(scope="module")
def deployed(bed: BedNode) -> Iterator[BedNode]:
    subprocess.run(["make", "-s", "deploy"], cwd=REPO_ROOT, check=True, timeout=1800)
    yield bed
    bed.kubectl(
        "delete", "auditconfig", "cluster", "--ignore-not-found", "--timeout=120s", check=False
    )
    undeploy(bed)


@pytest.fixture(scope="module")
def audit_config(deployed: BedNode) -> BedNode:
    """An AuditConfig that leaves the node as it is (enabled: false), its entry reported."""
    deployed.apply(
        "apiVersion: kaudit.io/v1alpha1\nkind: AuditConfig\n"
        "metadata: {name: cluster}\nspec: {enabled: false}\n"
    )
    wait_until("the agent's Disabled entry", lambda: entry(deployed, "cp-1").get("phase"))
    return deployed


@pytest.fixture(scope="module")
def agent_pod(deployed: BedNode, tmp_path_factory: pytest.TempPathFactory) -> BedNode:
    """The bed, with user AGENT_POD: a token the API server binds to the running agent pod."""
    pod = deployed.kubectl(
        "get", "pods", "-n", "kaudit-node", "-l", "app.kubernetes.io/component=agent",
        "-o", "jsonpath={.items[0].metadata.name}",
    ).stdout  # fmt: skip
    token = deployed.kubectl(
        "create", "token", "kaudit-agent", "-n", "kaudit-node", "--bound-object-kind=Pod",
        f"--bound-object-name={pod}", "--duration=15m",
    ).stdout.strip()  # fmt: skip
    kubeconfig = tmp_path_factory.mktemp("agent") / "kubeconfig"
    ca = deployed.path("/etc/kubernetes/pki/ca.crt")
    for step in (
        ["set-cluster", "bed", f"--server={deployed.server}", f"--certificate-authority={ca}"],
        ["set-credentials", "agent", f"--token={token}"],
        ["set-context", "agent", "--cluster=bed", "--user=agent"],
        ["use-context", "agent"],
    ):
        deployed.kubectl("config", f"--kubeconfig={kubeconfig}", *step)
    bed = dataclasses.replace(deployed, users={**deployed.users, AGENT_POD: Path(kubeconfig)})
    who = bed.kubectl_json("auth", "whoami", user=AGENT_POD)["status"]["userInfo"]
    # What the status policy relies on: the API server names the pod's node in the token.
    assert who["username"] == AGENT
    assert who["extra"]["authentication.kubernetes.io/node-name"] == ["cp-1"]
    return bed


def entry(bed: BedNode, node: str) -> dict[str, object]:
    config = bed.kubectl_json("get", "auditconfig", "cluster")
    entries = (config.get("status") or {}).get("nodeStatuses") or []
    return next((e for e in entries if e.get("nodeName") == node), {})


def apply_status(bed: BedNode, status: dict[str, object], *, manager: str, user: str) -> str:
    """Server-side apply of a status as the agent does it; '' when allowed, else the error."""
    body = {
        "apiVersion": "kaudit.io/v1alpha1",
        "kind": "AuditConfig",
        "metadata": {"name": "cluster"},
        "status": status,
    }
    result = bed.kubectl(
        "apply", "--server-side", "--subresource=status", f"--field-manager={manager}",
        "--force-conflicts", "-f", "-",
        input=json.dumps(body), user=user, check=False,
    )  # fmt: skip
    return "" if result.returncode == 0 else result.stderr


def test_rbac_grants_each_service_account_only_what_it_uses(deployed: BedNode) -> None:
    wrong = []
    for who, verb, resource, namespace, allowed in MATRIX:
        scope = ["-n", namespace] if namespace else ["--all-namespaces"]
        result = deployed.kubectl(
            "auth", "can-i", f"--as={who}", verb, *resource.split(), *scope, check=False
        )
        answer = result.stdout.strip().splitlines()[-1:] == ["yes"]
        if answer != allowed:
            wrong.append(f"{who.rsplit(':', 1)[1]} {verb} {resource} in {namespace or '*'}")
    assert not wrong, "RBAC differs from the matrix (can-i answered the opposite):\n" + "\n".join(
        wrong
    )


def test_the_agent_creates_a_pod_only_as_a_server_side_dry_run(agent_pod: BedNode) -> None:
    real = agent_pod.kubectl("create", "-f", "-", input=PROBE_POD, user=AGENT_POD, check=False)
    assert real.returncode != 0
    assert "kaudit-agent-dry-run-only" in real.stderr
    assert agent_pod.kubectl("get", "pod", "-n", "kaudit-node", "kaudit-probe", check=False).stderr

    dry = agent_pod.kubectl(
        "create", "-f", "-", "--dry-run=server", input=PROBE_POD, user=AGENT_POD, check=False
    )
    assert dry.returncode == 0, dry.stderr


def test_the_agent_creates_no_lease_but_the_rollout_turn(agent_pod: BedNode) -> None:
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "not-kaudit-rollout", "namespace": "kaudit-node"},
    }
    result = agent_pod.kubectl(
        "create", "-f", "-", input=json.dumps(lease), user=AGENT_POD, check=False
    )
    assert result.returncode != 0
    assert "may create only the Lease kaudit-rollout" in result.stderr


def test_the_agent_writes_its_own_status_entry_and_nothing_else(
    audit_config: BedNode, agent_pod: BedNode
) -> None:
    own = dict(entry(audit_config, "cp-1"))
    assert own.get("phase") == "Disabled"
    # Its own entry, as the agent writes it (server-side apply, field manager per node).
    assert apply_status(
        agent_pod, {"nodeStatuses": [own]}, manager="kaudit-agent-cp-1", user=AGENT_POD
    ) == ""  # fmt: skip

    forged = {"nodeName": "cp-2", "phase": "Applied", "message": "forged"}
    refused = apply_status(
        agent_pod, {"nodeStatuses": [forged]}, manager="kaudit-agent-cp-2", user=AGENT_POD
    )
    assert "may change only the status.nodeStatuses entry of cp-1" in refused
    refused = apply_status(
        agent_pod, {"phase": "Ready", "conditions": []}, manager="kaudit-agent-cp-1", user=AGENT_POD
    )
    assert "may not change the status summary or conditions" in refused
    # A token not bound to a pod (here: impersonation) names no node, and writes nothing.
    refused = audit_config.kubectl(
        f"--as={AGENT}", "patch", "auditconfig", "cluster", "--subresource=status",
        "--type=merge", "-p", json.dumps({"status": {"nodeStatuses": [own]}}), check=False,
    ).stderr  # fmt: skip
    assert "token names no node" in refused
    assert entry(audit_config, "cp-2") == {}


def test_the_controller_runs_under_restricted_pod_security_and_the_agent_apart(
    deployed: BedNode,
) -> None:
    labels = {
        name: deployed.kubectl_json("get", "namespace", name)["metadata"]["labels"]
        for name in ("kaudit-system", "kaudit-node")
    }
    assert labels["kaudit-system"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["kaudit-node"]["pod-security.kubernetes.io/enforce"] == "privileged"
    host_pod = PROBE_POD.replace("namespace: kaudit-node", "namespace: kaudit-system").replace(
        "spec:\n", "spec:\n  hostNetwork: true\n"
    )
    refused = deployed.kubectl(
        "create", "-f", "-", "--dry-run=server", input=host_pod, check=False
    ).stderr
    assert 'violates PodSecurity "restricted' in refused
    agent = deployed.kubectl_json("get", "daemonset", "-n", "kaudit-node", "kaudit-agent")
    host_paths = {
        v["hostPath"]["path"]
        for v in agent["spec"]["template"]["spec"]["volumes"]
        if "hostPath" in v
    }
    assert "/etc/kubernetes/tmp/kaudit" in host_paths
    assert "/etc/kubernetes/tmp" not in host_paths


def test_the_webhook_certificate_is_short_lived_and_in_the_shipped_configuration(
    deployed: BedNode,
) -> None:
    configuration = deployed.kubectl_json("get", "validatingwebhookconfiguration", "kaudit.io")
    bundles = {w["clientConfig"].get("caBundle") for w in configuration["webhooks"]}
    assert len(bundles) == 1
    (bundle,) = bundles
    (certificate,) = x509.load_pem_x509_certificates(base64.b64decode(bundle))
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert lifetime <= timedelta(days=31)
    update = next(w for w in configuration["webhooks"] if w["name"] == "validate-update.kaudit.io")
    assert update["failurePolicy"] == "Fail"
    assert update["timeoutSeconds"] == 10
    assert {c["name"] for c in update["matchConditions"]} == {"spec-changed", "not-being-deleted"}


def test_with_the_controller_down_the_finalizer_still_comes_off_by_hand(
    audit_config: BedNode,
) -> None:
    bed = audit_config
    wait_until(
        "the controller's finalizer",
        lambda: (
            "kaudit.io/finalizer"
            in bed.kubectl_json("get", "auditconfig", "cluster")["metadata"].get("finalizers", [])
        ),
    )
    bed.kubectl("scale", "deployment", "-n", "kaudit-system", "kaudit-controller", "--replicas=0")
    try:
        wait_until(
            "no controller pod",
            lambda: (
                not bed.kubectl_json(
                    "get",
                    "pods",
                    "-n",
                    "kaudit-system",
                    "-l",
                    "app.kubernetes.io/component=controller",
                )["items"]
            ),
        )
        # failurePolicy Fail: a spec change is refused while nothing can check it ...
        spec_change = bed.kubectl(
            "patch", "auditconfig", "cluster", "--type=merge", "-p", '{"spec":{"enabled":true}}',
            check=False, timeout=30,
        )  # fmt: skip
        assert spec_change.returncode != 0
        assert "validate-update.kaudit.io" in spec_change.stderr
        # ... but a deletion and the finalizer's removal never go to the webhook.
        bed.kubectl("delete", "auditconfig", "cluster", "--wait=false")
        bed.kubectl(
            "patch", "auditconfig", "cluster", "--type=merge",
            "-p", '{"metadata":{"finalizers":null}}',
        )  # fmt: skip
        wait_until(
            "the AuditConfig gone",
            lambda: bed.kubectl("get", "auditconfig", "cluster", check=False).returncode != 0,
            timeout=60,
        )
    finally:
        bed.kubectl(
            "scale", "deployment", "-n", "kaudit-system", "kaudit-controller", "--replicas=1"
        )
        bed.kubectl(
            "rollout", "status", "deployment", "-n", "kaudit-system", "kaudit-controller",
            "--timeout=180s", timeout=200,
        )  # fmt: skip
    # The new controller made a new certificate and put it in: the webhook answers again.
    wait_until(
        "the webhook to answer",
        lambda: bed.kubectl(
            "apply", "--dry-run=server", "-f", str(REPO_ROOT / "examples" / "auditconfig.yaml"),
            check=False, timeout=30,
        ).returncode == 0,
        timeout=120,
    )  # fmt: skip
