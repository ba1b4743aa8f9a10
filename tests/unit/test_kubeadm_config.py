"""Recording kaudit's flags and volumes in kubeadm's ClusterConfiguration, and taking them out.

The texts are ours, written as kubeadm uploads them (Go yaml.v2: keys sorted, sequences not
indented, empty structs as `{}`): V1BETA4 as kubeadm 1.34 does for the test bed's kubeadm.yaml
(hack/testbed/node.sh), V1BETA3 as kubeadm 1.30 did, with its authorization-mode extraArg.
"""

from __future__ import annotations

import dataclasses

import pytest
from ruamel.yaml import YAML

from kaudit.config import AuditConfigSpec, HostPathsSpec, LogSpec
from kaudit.desired import desired_state
from kaudit.kubeadm_config import (
    KAUDIT_ARG_NAMES,
    KubeadmConfigError,
    record_audit_settings,
    records_audit_settings,
    remove_audit_settings,
)
from kaudit.manifest import AuditPatch
from tests.unit.policy_bombs import laughs

V1BETA4 = """\
apiServer:
  certSANs:
  - 10.231.0.11
  - 127.0.0.1
  - localhost
  - cp-1
  - 10.231.0.10
apiVersion: kubeadm.k8s.io/v1beta4
caCertificateValidityPeriod: 87600h0m0s
certificateValidityPeriod: 8760h0m0s
certificatesDir: /etc/kubernetes/pki
clusterName: kaudit-testbed
controlPlaneEndpoint: 10.231.0.10:6443
controllerManager: {}
dns:
  disabled: true
encryptionAlgorithm: RSA-2048
etcd:
  local:
    dataDir: /var/lib/etcd
imageRepository: registry.k8s.io
kind: ClusterConfiguration
kubernetesVersion: v1.34.4
networking:
  dnsDomain: cluster.local
  podSubnet: 10.232.0.0/16
  serviceSubnet: 10.233.0.0/16
proxy: {}
scheduler: {}
"""

V1BETA4_EMPTY_API_SERVER = """\
apiServer: {}
apiVersion: kubeadm.k8s.io/v1beta4
caCertificateValidityPeriod: 87600h0m0s
certificateValidityPeriod: 8760h0m0s
certificatesDir: /etc/kubernetes/pki
clusterName: kubernetes
controllerManager: {}
dns: {}
encryptionAlgorithm: RSA-2048
etcd:
  local:
    dataDir: /var/lib/etcd
imageRepository: registry.k8s.io
kind: ClusterConfiguration
kubernetesVersion: v1.34.4
networking:
  dnsDomain: cluster.local
  serviceSubnet: 10.96.0.0/12
proxy: {}
scheduler: {}
"""

V1BETA4_WITH_EXTRAS = """\
apiServer:
  certSANs:
  - 10.231.0.11
  extraArgs:
  - name: profiling
    value: "false"
  - name: enable-admission-plugins
    value: NodeRestriction,PodSecurity
  extraVolumes:
  - hostPath: /etc/kubernetes/encryption
    mountPath: /etc/kubernetes/encryption
    name: encryption-config
    pathType: DirectoryOrCreate
    readOnly: true
apiVersion: kubeadm.k8s.io/v1beta4
certificatesDir: /etc/kubernetes/pki
clusterName: kaudit-testbed
kind: ClusterConfiguration
kubernetesVersion: v1.34.4
"""

V1BETA3 = """\
apiServer:
  certSANs:
  - 192.168.56.10
  extraArgs:
    authorization-mode: Node,RBAC
  timeoutForControlPlane: 4m0s
apiVersion: kubeadm.k8s.io/v1beta3
certificatesDir: /etc/kubernetes/pki
clusterName: kubernetes
controllerManager: {}
dns: {}
etcd:
  local:
    dataDir: /var/lib/etcd
imageRepository: registry.k8s.io
kind: ClusterConfiguration
kubernetesVersion: v1.30.2
networking:
  dnsDomain: cluster.local
  podSubnet: 10.244.0.0/16
  serviceSubnet: 10.96.0.0/12
scheduler: {}
"""

ORIGINALS = {
    "v1beta4": V1BETA4,
    "v1beta4-empty-apiServer": V1BETA4_EMPTY_API_SERVER,
    "v1beta4-with-extras": V1BETA4_WITH_EXTRAS,
    "v1beta3": V1BETA3,
}


def make_patch(spec: AuditConfigSpec = AuditConfigSpec()) -> AuditPatch:  # noqa: B008
    patch = desired_state(spec, source="test").patch
    assert patch is not None
    return patch


DEFAULT = make_patch()


def load(text: str) -> dict[str, object]:
    data = YAML(typ="safe", pure=True).load(text)
    assert isinstance(data, dict)
    return data


def api_server(text: str) -> dict[str, object]:
    section = load(text)["apiServer"]
    assert isinstance(section, dict)
    return section


def args_of(text: str) -> list[tuple[str, str]]:
    """extraArgs as (name, value) pairs in document order, for either schema."""
    args = api_server(text).get("extraArgs") or []
    if isinstance(args, dict):
        return [(str(k), str(v)) for k, v in args.items()]
    return [(a["name"], a["value"]) for a in args]


def volumes_of(text: str) -> list[dict[str, object]]:
    return list(api_server(text).get("extraVolumes") or [])  # type: ignore[call-overload]


DEFAULT_ARGS = [
    ("audit-log-maxage", "30"),
    ("audit-log-maxbackup", "1"),
    ("audit-log-maxsize", "100"),
    ("audit-log-path", "/var/log/audit/kube-apiserver-audit.log"),
    ("audit-policy-file", "/etc/kubernetes/audit-policy/apiserver-audit-policy.yaml"),
]
DEFAULT_VOLUMES = [
    {
        "hostPath": "/var/log/kubernetes/audit",
        "mountPath": "/var/log/audit",
        "name": "audit-logs",
        "pathType": "DirectoryOrCreate",
    },
    {
        "hostPath": "/etc/kubernetes/audit-policy",
        "mountPath": "/etc/kubernetes/audit-policy",
        "name": "audit-policy",
        "pathType": "DirectoryOrCreate",
        "readOnly": True,
    },
]


def test_recording_into_kubeadm_1_34_config_writes_v1beta4_lists() -> None:
    recorded = record_audit_settings(V1BETA4, DEFAULT)
    assert args_of(recorded) == DEFAULT_ARGS
    assert volumes_of(recorded) == DEFAULT_VOLUMES
    # kubeadm's own layout: keys sorted, sequences not indented, strings needing it quoted.
    assert "  - 10.231.0.10\n  extraArgs:\n  - name: audit-log-maxage\n    value: '30'\n" in (
        recorded
    )
    assert "    pathType: DirectoryOrCreate\n    readOnly: true\napiVersion:" in recorded
    # Everything else is as it was, byte for byte.
    head, tail = V1BETA4.split("apiVersion:", 1)
    assert recorded.startswith(head)
    assert recorded.endswith("apiVersion:" + tail)


def test_recording_into_an_empty_api_server_gives_it_block_entries() -> None:
    recorded = record_audit_settings(V1BETA4_EMPTY_API_SERVER, DEFAULT)
    assert recorded.startswith("apiServer:\n  extraArgs:\n  - name: audit-log-maxage\n")
    assert args_of(recorded) == DEFAULT_ARGS
    assert volumes_of(recorded) == DEFAULT_VOLUMES
    rest = V1BETA4_EMPTY_API_SERVER.removeprefix("apiServer: {}\n")
    assert recorded.endswith(rest)


def test_recording_into_a_config_without_api_server_adds_it_where_kubeadm_would() -> None:
    text = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n"
    recorded = record_audit_settings(text, DEFAULT)
    assert recorded.startswith("apiServer:\n  extraArgs:\n")
    assert recorded.endswith(text)


def test_other_args_and_volumes_are_kept_in_their_order() -> None:
    recorded = record_audit_settings(V1BETA4_WITH_EXTRAS, DEFAULT)
    assert args_of(recorded) == [
        ("profiling", "false"),
        ("enable-admission-plugins", "NodeRestriction,PodSecurity"),
        *DEFAULT_ARGS,
    ]
    assert [v["name"] for v in volumes_of(recorded)] == [
        "encryption-config",
        "audit-logs",
        "audit-policy",
    ]
    assert '  - name: profiling\n    value: "false"\n' in recorded  # its quotes kept


def test_recording_into_kubeadm_1_30_config_writes_a_v1beta3_map() -> None:
    recorded = record_audit_settings(V1BETA3, DEFAULT)
    # kubeadm writes map keys sorted: the new ones go where it would put them.
    assert args_of(recorded) == [*DEFAULT_ARGS, ("authorization-mode", "Node,RBAC")]
    assert "  extraArgs:\n    audit-log-maxage: '30'\n" in recorded
    assert volumes_of(recorded) == DEFAULT_VOLUMES
    assert api_server(recorded)["timeoutForControlPlane"] == "4m0s"
    assert list(api_server(recorded)) == [
        "certSANs",
        "extraArgs",
        "extraVolumes",
        "timeoutForControlPlane",
    ]


@pytest.mark.parametrize("name", list(ORIGINALS))
def test_recording_twice_gives_the_same_text_object(name: str) -> None:
    once = record_audit_settings(ORIGINALS[name], DEFAULT)
    assert once != ORIGINALS[name]
    assert record_audit_settings(once, DEFAULT) is once
    assert records_audit_settings(once, DEFAULT)
    assert not records_audit_settings(ORIGINALS[name], DEFAULT)


@pytest.mark.parametrize("name", list(ORIGINALS))
def test_removal_gives_back_exactly_the_original(name: str) -> None:
    recorded = record_audit_settings(ORIGINALS[name], DEFAULT)
    assert remove_audit_settings(recorded) == ORIGINALS[name]


@pytest.mark.parametrize("name", list(ORIGINALS))
def test_removal_from_a_config_without_audit_settings_changes_nothing(name: str) -> None:
    assert remove_audit_settings(ORIGINALS[name]) is ORIGINALS[name]


@pytest.mark.parametrize("name", ["v1beta4-with-extras", "v1beta3"])
def test_a_different_patch_replaces_the_recorded_one(name: str) -> None:
    recorded = record_audit_settings(ORIGINALS[name], DEFAULT)
    changed_spec = AuditConfigSpec(
        log=LogSpec(path="/var/log/k8s-audit/audit.log", max_age=7, max_size=None, format="json"),
        host_paths=HostPathsSpec(log_dir="/var/log/k8s-audit"),
    )
    patch = make_patch(changed_spec)
    again = record_audit_settings(recorded, patch)
    args = dict(args_of(again))
    assert args["audit-log-maxage"] == "7"
    assert args["audit-log-format"] == "json"
    assert args["audit-log-path"] == "/var/log/k8s-audit/audit.log"
    # maxSize: null leaves kube-apiserver's default: the recorded flag must go, or the next
    # `kubeadm upgrade` would write it into the manifest again.
    assert "audit-log-maxsize" not in args
    names = [name for name, _ in args_of(again)]
    assert len(names) == len(set(names))
    logs = next(v for v in volumes_of(again) if v["name"] == "audit-logs")
    assert logs == {
        "hostPath": "/var/log/k8s-audit",
        "mountPath": "/var/log/k8s-audit",
        "name": "audit-logs",
        "pathType": "DirectoryOrCreate",
    }
    assert [v["name"] for v in volumes_of(again)] == [v["name"] for v in volumes_of(recorded)]
    assert records_audit_settings(again, patch)
    assert not records_audit_settings(again, DEFAULT)
    assert remove_audit_settings(again) == ORIGINALS[name]


def test_a_same_named_entry_is_replaced_in_place_and_a_duplicate_dropped() -> None:
    text = V1BETA4_WITH_EXTRAS.replace(
        "  - name: profiling\n",
        "  - name: audit-log-maxage\n    value: '3'\n  - name: profiling\n",
    ).replace(
        '    value: "false"\n',
        '    value: "false"\n  - name: audit-log-maxage\n    value: "4"\n',
    )
    recorded = record_audit_settings(text, DEFAULT)
    names = [name for name, _ in args_of(recorded)]
    assert names[:3] == ["audit-log-maxage", "profiling", "enable-admission-plugins"]
    assert names.count("audit-log-maxage") == 1
    assert dict(args_of(recorded))["audit-log-maxage"] == "30"


def test_an_unquoted_value_equal_to_the_flag_counts_as_recorded() -> None:
    recorded = record_audit_settings(V1BETA3, DEFAULT).replace("'30'", "30")
    assert records_audit_settings(recorded, DEFAULT)
    assert record_audit_settings(recorded, DEFAULT) is recorded


def test_a_flag_the_patch_no_longer_sets_is_not_recorded_and_goes() -> None:
    recorded = record_audit_settings(V1BETA4, DEFAULT)
    stale = recorded.replace(
        "  - name: audit-log-path\n",
        "  - name: audit-log-mode\n    value: batch\n  - name: audit-log-path\n",
    )
    assert not records_audit_settings(stale, DEFAULT)
    assert record_audit_settings(stale, DEFAULT) == recorded


def test_a_policy_only_change_is_already_recorded() -> None:
    # Same flags and volumes, another policy: the hash differs, the kubeadm record does not.
    other = dataclasses.replace(DEFAULT, config_hash="sha256:another-policy")
    assert records_audit_settings(record_audit_settings(V1BETA4, DEFAULT), other)


def test_removal_keeps_every_arg_and_volume_kaudit_does_not_write() -> None:
    text = V1BETA4_WITH_EXTRAS.replace(
        "  - name: profiling\n",
        "  - name: audit-webhook-config-file\n    value: /etc/kubernetes/webhook.yaml\n"
        "  - name: audit-log-maxage\n    value: '3'\n"
        "  - name: profiling\n",
    )
    removed = remove_audit_settings(text)
    assert args_of(removed) == [
        ("audit-webhook-config-file", "/etc/kubernetes/webhook.yaml"),
        ("profiling", "false"),
        ("enable-admission-plugins", "NodeRestriction,PodSecurity"),
    ]
    assert [v["name"] for v in volumes_of(removed)] == ["encryption-config"]


def test_every_flag_kaudit_can_write_is_removed_from_a_v1beta3_map() -> None:
    lines = "".join(f"    {name}: x\n" for name in sorted(KAUDIT_ARG_NAMES))
    text = V1BETA3.replace("  extraArgs:\n", "  extraArgs:\n" + lines)
    assert remove_audit_settings(text) == V1BETA3


def test_comments_and_hand_written_layout_survive() -> None:
    text = """\
# kept by hand
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
apiServer:
    extraArgs:
      - name: profiling   # off on purpose
        value: "false"
networking: {podSubnet: 10.0.0.0/8}
"""
    recorded = record_audit_settings(text, DEFAULT)
    assert "# kept by hand\n" in recorded
    assert "      - name: profiling   # off on purpose\n" in recorded
    assert "      - name: audit-log-maxage\n        value: '30'\n" in recorded
    assert recorded.endswith("networking: {podSubnet: 10.0.0.0/8}\n")
    assert remove_audit_settings(recorded) == text


@pytest.mark.parametrize(
    ("text", "field", "reason"),
    [
        (
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n",
            "kind",
            "expected ClusterConfiguration, found 'InitConfiguration'",
        ),
        (
            "apiVersion: kubeadm.k8s.io/v1beta2\nkind: ClusterConfiguration\n",
            "apiVersion",
            "kubeadm.k8s.io/v1beta3 and kubeadm.k8s.io/v1beta4, found 'kubeadm.k8s.io/v1beta2'",
        ),
        (
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n"
            "apiServer:\n  extraArgs:\n    profiling: 'false'\n",
            "apiServer.extraArgs",
            "kubeadm.k8s.io/v1beta4 writes it as a list, found a mapping",
        ),
        (
            V1BETA3.replace("    authorization-mode: Node,RBAC\n", "  - authorization-mode\n"),
            "apiServer.extraArgs",
            "kubeadm.k8s.io/v1beta3 writes it as a mapping of name to value, found a list",
        ),
        (
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n"
            "apiServer:\n  extraVolumes:\n  - /var/log\n",
            "apiServer.extraVolumes[0]",
            "must be a mapping with a name",
        ),
        (
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\napiServer: []\n",
            "apiServer",
            "must be a mapping, found a list",
        ),
        ("- a\n", "", "expected a ClusterConfiguration mapping"),
        ("", "", "expected a ClusterConfiguration mapping, found nothing"),
        ("apiVersion: [\n", "", "not valid YAML: line 2"),
        (
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n---\nkind: x\n",
            "",
            "not valid YAML",
        ),
        # The ConfigMap is input like any other: an alias bomb or deep nesting stops at a limit.
        (laughs(levels=6), "", "excessive aliasing"),
        ("apiServer: " + "[" * 100 + "]" * 100 + "\n", "", "nesting deeper than kaudit's limit"),
    ],
)
def test_a_config_kaudit_will_not_edit_is_refused_with_where_and_why(
    text: str, field: str, reason: str
) -> None:
    for attempt in (
        lambda: record_audit_settings(text, DEFAULT),
        lambda: remove_audit_settings(text),
        lambda: records_audit_settings(text, DEFAULT),
    ):
        with pytest.raises(KubeadmConfigError) as caught:
            attempt()
        error = caught.value
        assert error.field == field
        assert reason in error.reason
        prefix = "ConfigMap kube-system/kubeadm-config key ClusterConfiguration: "
        assert str(error).startswith(prefix + (f"{field}: " if field else ""))
