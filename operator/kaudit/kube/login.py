"""kopf's connection: our own client's credentials, and retries that outlast a restart.

kopf's built-in login handlers live in its global registry (each role here has a registry of
its own) and re-load the client's configuration from global defaults, which depends on when
KUBECONFIG was read. Handing kopf what our client already loaded avoids both.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
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


class RetryForever:
    """kopf's API error backoffs, without an end.

    kopf gives up on an API request after its backoff list runs out (about a minute by
    default) and then stops the whole operator. On a single-node control plane the API server
    kaudit talks to is the one it restarts, and a rollback can keep it away for minutes: the
    process must outlive that, or the agent dies in the middle of its health gate. kopf
    iterates this afresh for every request; each retry is logged.
    """

    def __iter__(self) -> Iterator[float]:
        return itertools.chain((1.0, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0), itertools.repeat(15.0))
