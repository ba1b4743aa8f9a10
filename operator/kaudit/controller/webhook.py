"""The admission webhook's HTTPS server: a self-signed certificate and the client config.

kopf's WebhookServer yields a URL client config, which suits a webhook the API server reaches
by address (the tier-1 tests: 127.0.0.1). In a cluster the API server reaches the controller
through its Service, and resolves `service:` references itself (it does not use cluster DNS),
so ServiceWebhookServer turns the URL into a service reference. kopf then injects the handler
path and patches the managed ValidatingWebhookConfiguration with our CA bundle.

The certificate is made at start with `cryptography` (kopf's own generator needs certbuilder
and oscrypto, which are unmaintained): a new one each start, and kopf re-patches the caBundle.
"""

from __future__ import annotations

import ipaddress
import tempfile
import urllib.parse
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import kopf
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def write_self_signed_certificate(
    folder: Path, *, names: Sequence[str], days: int = 365
) -> tuple[Path, Path]:
    """A certificate (its own CA) for DNS names and IP addresses; returns (cert, key) paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0][:64])])
    alternative: list[x509.GeneralName] = []
    for name in names:
        try:
            alternative.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alternative.append(x509.DNSName(name))
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(alternative), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_path = folder / "tls.crt"
    key_path = folder / "tls.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.touch(mode=0o600)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class ServiceWebhookServer(kopf.WebhookServer):
    """kopf's server, announced to the API server as a Service reference."""

    def __init__(
        self, *, service_namespace: str, service_name: str, service_port: int, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.service_namespace = service_namespace
        self.service_name = service_name
        self.service_port = service_port

    async def __call__(self, fn: Any) -> AsyncIterator[Any]:
        async for config in super().__call__(fn):
            yield service_client_config(
                config,
                namespace=self.service_namespace,
                name=self.service_name,
                port=self.service_port,
            )


def service_client_config(
    url_config: kopf.WebhookClientConfig, *, namespace: str, name: str, port: int
) -> kopf.WebhookClientConfig:
    """The URL client config kopf's server announces, as a Service reference.

    kopf appends "/<handler id>" to the service path, so the root path must be "" (a "/" would
    give "//validate-create", which the API server refuses).
    """
    path = urllib.parse.urlsplit(url_config.get("url") or "").path.rstrip("/")
    return kopf.WebhookClientConfig(
        caBundle=url_config.get("caBundle"),
        service=kopf.WebhookClientConfigService(
            namespace=namespace, name=name, port=port, path=path
        ),
    )


def build_webhook_server(
    *,
    port: int,
    url_host: str | None,
    service: tuple[str, str, int] | None,
) -> Any:
    """A server for a URL host (tests, local runs) or for an in-cluster Service."""
    folder = Path(tempfile.mkdtemp(prefix="kaudit-webhook-"))
    if service is not None:
        namespace, name, service_port = service
        names = [f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.cluster.local", name]
        cert, key = write_self_signed_certificate(folder, names=names)
        return ServiceWebhookServer(
            service_namespace=namespace,
            service_name=name,
            service_port=service_port,
            addr="0.0.0.0",  # the Service routes to the pod's address
            port=port,
            certfile=str(cert),
            pkeyfile=str(key),
        )
    host = url_host or "127.0.0.1"
    cert, key = write_self_signed_certificate(folder, names=[host])
    return kopf.WebhookServer(
        addr=host, port=port, host=host, certfile=str(cert), pkeyfile=str(key)
    )
