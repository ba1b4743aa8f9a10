"""kopf's login: the credentials of our own client, so both talk to the cluster as one.

kopf's built-in login handlers live in its global registry (each role here has a registry of
its own) and re-load the client's configuration from global defaults, which depends on when
KUBECONFIG was read. Handing kopf what our client already loaded avoids both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import kopf

from kaudit.kube.api import KubeApi, connection_settings


def login_handler(api: KubeApi) -> Callable[..., kopf.ConnectionInfo]:
    def login(**_: Any) -> kopf.ConnectionInfo:
        found = connection_settings(api.api_client)
        return kopf.ConnectionInfo(
            server=found.server,
            ca_path=found.ca_path,
            insecure=found.insecure,
            scheme=found.scheme,
            token=found.token,
            certificate_path=found.certificate_path,
            private_key_path=found.private_key_path,
        )

    return login
