"""The admission webhook's HTTPS server: its certificate, rotated before it expires.

kopf's WebhookServer yields a URL client config, which suits a webhook the API server reaches
by address (the tier-1 tests: 127.0.0.1); there kopf creates and patches the configuration
itself. In a cluster the API server reaches the controller through its Service, and the
configuration is shipped in deploy/webhook.yaml (with the matchConditions that keep a crashed
controller from blocking finalizer removal, which kopf's own configuration would overwrite):
ServiceWebhookServer only puts the CA bundle into it, which needs `patch` on that one object.

The certificate is self-signed (its own CA), made at start with `cryptography` (kopf's own
generator needs certbuilder and oscrypto, which are unmaintained), valid for 30 days and
renewed in place after 20, without a restart and without a moment in which the API server
does not trust the served certificate:
1. the next certificate is made and the CA bundle becomes old + next (still serving the old);
2. once that bundle is in the webhook configuration, and a handover time later (every API
   server watches the configuration), the next certificate is served and the bundle becomes
   next only.
kopf re-reads the files when they change (it hashes them every few seconds) and restarts its
listener with them, yielding a new client config, which is announced again.

The API server cannot be authenticated here: kube-apiserver presents a client certificate or
token to a webhook only when its own admission configuration file on the host
(--admission-control-config-file, kubeConfigFile per webhook) says so. That is a host change
on every control-plane node, outside what a Deployment can do; what the cluster can do is the
NetworkPolicy in deploy/webhook.yaml, which admits only the control-plane nodes' addresses.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import logging
import os
import tempfile
import urllib.parse
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import kopf
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

log = logging.getLogger("kaudit.controller.webhook")

# Short enough that a leaked key is worth little for long; long enough that a renewal that
# fails (API server down) has ten days of retries before anything breaks.
CERTIFICATE_LIFETIME: Final = timedelta(days=30)
RENEW_AFTER: Final = timedelta(days=20)
# How long the old + next bundle is in the configuration before the next certificate is
# served: the API servers pick a configuration change up within seconds.
HANDOVER: Final = timedelta(minutes=2)
# How often kopf hashes the certificate files to notice a renewal.
FILE_CHECK_SECONDS: Final = 10.0
# How often a failed CA bundle patch is retried.
PUBLISH_RETRY_SECONDS: Final = 5.0
# How often the wall clock is read while waiting for the renewal: a suspended machine's
# monotonic sleep would overshoot it.
CLOCK_CHECK_SECONDS: Final = 3600.0


@dataclass(frozen=True, kw_only=True)
class IssuedCertificate:
    certificate_pem: bytes
    key_pem: bytes
    not_before: datetime
    not_after: datetime


def issue_certificate(
    *, names: Sequence[str], now: datetime, lifetime: timedelta = CERTIFICATE_LIFETIME
) -> IssuedCertificate:
    """A self-signed certificate (its own CA) for DNS names and IP addresses."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0][:64])])
    alternative: list[x509.GeneralName] = []
    for name in names:
        try:
            alternative.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alternative.append(x509.DNSName(name))
    # A little earlier than now: a node whose clock is a few minutes behind still accepts it.
    not_before = now - timedelta(minutes=5)
    not_after = now + lifetime
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(alternative), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return IssuedCertificate(
        certificate_pem=certificate.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        not_before=not_before,
        not_after=not_after,
    )


def _write_private_file(path: Path, data: bytes) -> None:
    """Replace a file in one rename, mode 0600 from the start: kopf may read it at any time."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


class CertificateRotation:
    """The webhook's certificate files and the two-step renewal of them.

    `serving` holds the certificate and its key together, so that kopf can never read a new
    certificate with an old key; `bundle` is the CA bundle the API server is given.
    """

    def __init__(
        self,
        folder: Path,
        *,
        names: Sequence[str],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        lifetime: timedelta = CERTIFICATE_LIFETIME,
        renew_after: timedelta = RENEW_AFTER,
    ) -> None:
        self.folder = folder
        self.names = list(names)
        self.clock = clock
        self.lifetime = lifetime
        self.renew_after = renew_after
        self.serving = folder / "tls.pem"
        self.bundle = folder / "ca.crt"
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.current = issue_certificate(names=self.names, now=clock(), lifetime=lifetime)
        self.next: IssuedCertificate | None = None
        _write_private_file(self.serving, self.current.certificate_pem + self.current.key_pem)
        _write_private_file(self.bundle, self.current.certificate_pem)

    @property
    def renew_at(self) -> datetime:
        return self.current.not_before + self.renew_after

    def stage_next(self) -> bytes:
        """Step 1: make the next certificate and trust both; returns the new bundle."""
        self.next = issue_certificate(names=self.names, now=self.clock(), lifetime=self.lifetime)
        bundle = self.current.certificate_pem + self.next.certificate_pem
        _write_private_file(self.bundle, bundle)
        return bundle

    def promote(self) -> None:
        """Step 2: serve the next certificate, and trust only it."""
        if self.next is None:
            return
        self.current, self.next = self.next, None
        _write_private_file(self.serving, self.current.certificate_pem + self.current.key_pem)
        _write_private_file(self.bundle, self.current.certificate_pem)


class RotatingWebhookServer(kopf.WebhookServer):
    """kopf's server on a CertificateRotation's files, renewing them while it runs."""

    def __init__(self, *, rotation: CertificateRotation, **kwargs: Any) -> None:
        super().__init__(
            certfile=str(rotation.serving),
            pkeyfile=str(rotation.serving),
            cafile=str(rotation.bundle),
            file_check_interval=FILE_CHECK_SECONDS,
            **kwargs,
        )
        self.rotation = rotation
        self.announced_bundle: str | None = None

    async def __call__(self, fn: Any) -> AsyncIterator[Any]:
        rotating = asyncio.create_task(self._rotate_forever(), name="webhook-certificate")
        try:
            async for config in super().__call__(fn):
                announced = await self.announce(config)
                yield announced
                # Back here, kopf has taken the config (and, when it manages the
                # configuration, queued its patch).
                self.announced_bundle = config.get("caBundle")
        finally:
            rotating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await rotating

    async def announce(self, config: kopf.WebhookClientConfig) -> kopf.WebhookClientConfig:
        """The client config for kopf; a subclass may also publish it itself."""
        return config

    async def _rotate_forever(self) -> None:
        while True:
            while (wait := (self.rotation.renew_at - self.rotation.clock()).total_seconds()) > 0:
                await asyncio.sleep(min(wait, CLOCK_CHECK_SECONDS))
            bundle = await asyncio.to_thread(self.rotation.stage_next)
            log.info("Renewing the webhook certificate: the API server now trusts old and new")
            wanted = _base64(bundle)
            while self.announced_bundle != wanted:
                await asyncio.sleep(FILE_CHECK_SECONDS)
            await asyncio.sleep(HANDOVER.total_seconds())
            await asyncio.to_thread(self.rotation.promote)
            log.info(
                "Renewed the webhook certificate; valid until %s",
                self.rotation.current.not_after.isoformat(),
            )


def _base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class ServiceWebhookServer(RotatingWebhookServer):
    """The server, announced as a Service reference, its CA bundle put into the shipped
    configuration by `publish_ca_bundle` (retried until it works)."""

    def __init__(
        self,
        *,
        service_namespace: str,
        service_name: str,
        service_port: int,
        publish_ca_bundle: Callable[[str], None],
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.service_namespace = service_namespace
        self.service_name = service_name
        self.service_port = service_port
        self.publish_ca_bundle = publish_ca_bundle

    async def announce(self, config: kopf.WebhookClientConfig) -> kopf.WebhookClientConfig:
        bundle = config.get("caBundle") or ""
        while True:
            try:
                await asyncio.to_thread(self.publish_ca_bundle, bundle)
                break
            except Exception as error:  # any failure is retried, and logged
                log.warning("CA bundle not yet in the webhook configuration: %s", error)
                await asyncio.sleep(PUBLISH_RETRY_SECONDS)
        log.info("Put the webhook's CA bundle into its configuration")
        return service_client_config(
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
    publish_ca_bundle: Callable[[str], None],
) -> Any:
    """A server for a URL host (tests, local runs) or for an in-cluster Service."""
    folder = Path(tempfile.mkdtemp(prefix="kaudit-webhook-"))
    if service is not None:
        namespace, name, service_port = service
        names = [f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.cluster.local", name]
        return ServiceWebhookServer(
            rotation=CertificateRotation(folder, names=names),
            service_namespace=namespace,
            service_name=name,
            service_port=service_port,
            publish_ca_bundle=publish_ca_bundle,
            addr="0.0.0.0",  # the Service routes to the pod's address
            port=port,
        )
    host = url_host or "127.0.0.1"
    return RotatingWebhookServer(
        rotation=CertificateRotation(folder, names=[host]), addr=host, port=port, host=host
    )
