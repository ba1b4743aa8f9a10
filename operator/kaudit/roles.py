"""Starting the two long-running roles (`kaudit controller`, `kaudit agent`) under kopf."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import kopf

from kaudit.agent.handlers import build_registry as build_agent_registry
from kaudit.agent.node_agent import AgentSettings, NodeAgent
from kaudit.controller.handlers import ControllerOptions
from kaudit.controller.handlers import build_registry as build_controller_registry
from kaudit.kube.api import KubeApi, new_api_client

SERVICE_ACCOUNT_CA = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
# Where the policy ConfigMaps live (spec.policy.configMapRef's default, and the only namespace
# whose ConfigMaps kaudit's ServiceAccounts may read): the agent watches them there, whatever
# namespace it runs in itself (kaudit-node in deploy/).
POLICY_NAMESPACE = "kaudit-system"


def _prepare(kubeconfig: str | None) -> KubeApi:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if kubeconfig:
        # kopf logs in through the same kubeconfig as our own client.
        os.environ["KUBECONFIG"] = kubeconfig
    return KubeApi(new_api_client(kubeconfig))


def run_controller(
    *,
    kubeconfig: str | None,
    namespace: str,
    webhook_port: int,
    webhook_url_host: str | None,
    webhook_service: tuple[str, str, int] | None,
    liveness: str | None,
) -> None:
    api = _prepare(kubeconfig)
    options = ControllerOptions(
        namespace=namespace,
        webhook_port=webhook_port,
        webhook_url_host=webhook_url_host,
        webhook_service=webhook_service,
    )
    kopf.run(
        registry=build_controller_registry(api, options),
        standalone=True,
        namespaces=[namespace],
        liveness_endpoint=liveness,
    )


def run_agent(
    *,
    kubeconfig: str | None,
    node_name: str,
    host_root: str,
    namespace: str,
    readyz_url: str | None,
    liveness: str | None,
) -> None:
    api = _prepare(kubeconfig)
    ca_file = SERVICE_ACCOUNT_CA if Path(SERVICE_ACCOUNT_CA).exists() else None
    agent = NodeAgent(
        api,
        AgentSettings(
            node_name=node_name,
            host_root=Path(host_root),
            namespace=namespace,
            ca_file=ca_file,
            readyz_url=readyz_url,
            crash_points=crash_points_for(node_name, os.environ.get("KAUDIT_CRASH_AT", "")),
        ),
    )
    kopf.run(
        registry=build_agent_registry(agent),
        standalone=True,
        namespaces=[POLICY_NAMESPACE],
        liveness_endpoint=liveness,
    )


def crash_points_for(node_name: str, setting: str) -> frozenset[str]:
    """KAUDIT_CRASH_AT="cp-1:after-backup,cp-2:after-write": this node's fault-injection points.

    For the end-to-end tests only: one DaemonSet setting names points on chosen nodes. A point
    named "hold-..." (cp-1:hold-after-write) blocks the agent there instead of exiting.
    """
    points = set()
    for item in setting.split(","):
        node, _, point = item.strip().partition(":")
        if node == node_name and point:
            points.add(point)
    return frozenset(points)
