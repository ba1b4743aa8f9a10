"""The webhook's TLS certificate and the client config the API server is given."""

from __future__ import annotations

import asyncio
import base64
import socket
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import kopf
import pytest
from cryptography import x509

from kaudit.controller import webhook
from kaudit.controller.webhook import (
    CERTIFICATE_LIFETIME,
    RENEW_AFTER,
    CertificateRotation,
    RotatingWebhookServer,
    issue_certificate,
    service_client_config,
)


def test_service_reference_paths_are_valid_once_kopf_adds_the_handler_id() -> None:
    # kopf's own path injection (private, but it is what builds the webhook configuration).
    from kopf._core.engines.admission import _inject_handler_id  # noqa: PLC0415

    config = service_client_config(
        kopf.WebhookClientConfig(url="https://0.0.0.0:8443", caBundle="Q0E="),
        namespace="kaudit-system",
        name="kaudit-webhook",
        port=443,
    )
    injected = _inject_handler_id(config, kopf.HandlerId("validate-create"))
    assert injected["service"] == {
        "namespace": "kaudit-system",
        "name": "kaudit-webhook",
        "port": 443,
        "path": "/validate-create",
    }
    assert injected["caBundle"] == "Q0E="


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _served(rotation: CertificateRotation) -> x509.Certificate:
    return x509.load_pem_x509_certificate(rotation.serving.read_bytes())


def _trusted(rotation: CertificateRotation) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(rotation.bundle.read_bytes())


def test_the_certificate_names_the_service_and_loads_as_a_server_certificate(
    tmp_path: Path,
) -> None:
    names = ["kaudit-webhook.kaudit-system.svc", "127.0.0.1"]
    rotation = CertificateRotation(tmp_path, names=names)
    alternative = (
        _served(rotation).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    )
    assert alternative.get_values_for_type(x509.DNSName) == ["kaudit-webhook.kaudit-system.svc"]
    assert [str(ip) for ip in alternative.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert rotation.serving.stat().st_mode & 0o077 == 0
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    # kopf loads one file as both certificate and key: a renewal can never pair them wrongly.
    context.load_cert_chain(rotation.serving, rotation.serving)


def test_the_certificate_lives_30_days_and_is_renewed_after_20() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    issued = issue_certificate(names=["kaudit-webhook.kaudit-system.svc"], now=now)
    assert issued.not_after - now == timedelta(days=30)
    # Renewal leaves ten days for retries (an API server down) before the certificate ends.
    retries = CERTIFICATE_LIFETIME - RENEW_AFTER
    assert retries == timedelta(days=10)


def test_a_renewal_first_trusts_both_certificates_then_serves_and_trusts_only_the_new(
    tmp_path: Path,
) -> None:
    moments = iter([datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 21, tzinfo=UTC)])
    rotation = CertificateRotation(tmp_path, names=["svc"], clock=lambda: next(moments))
    first = _served(rotation)
    assert rotation.renew_at == first.not_valid_before_utc + RENEW_AFTER
    assert _trusted(rotation) == [first]

    rotation.stage_next()
    # The API server is given both before the new one is served: no request fails in between.
    assert _served(rotation) == first
    assert [c.not_valid_before_utc for c in _trusted(rotation)] == [
        first.not_valid_before_utc,
        datetime(2026, 1, 21, tzinfo=UTC) - timedelta(minutes=5),
    ]
    staged = _trusted(rotation)[1]

    rotation.promote()
    assert _served(rotation) == staged
    assert _trusted(rotation) == [staged]
    assert rotation.renew_at == staged.not_valid_before_utc + RENEW_AFTER
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_running_server_renews_its_certificate_and_announces_each_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kopf's own server, on a real port: the renewal as the API server would see it."""
    monkeypatch.setattr(webhook, "FILE_CHECK_SECONDS", 0.02)
    monkeypatch.setattr(webhook, "CLOCK_CHECK_SECONDS", 0.02)
    monkeypatch.setattr(webhook, "HANDOVER", timedelta(seconds=0.05))
    now = [datetime.now(UTC)]
    rotation = CertificateRotation(tmp_path, names=["127.0.0.1"], clock=lambda: now[0])
    port = free_port()
    server = RotatingWebhookServer(rotation=rotation, addr="127.0.0.1", port=port, host="127.0.0.1")

    def bundle(config: kopf.WebhookClientConfig) -> list[x509.Certificate]:
        return x509.load_pem_x509_certificates(base64.b64decode(config.get("caBundle") or ""))

    def served() -> x509.Certificate:
        pem = ssl.get_server_certificate(("127.0.0.1", port), timeout=5)
        return x509.load_pem_x509_certificate(pem.encode())

    async def scenario() -> list[list[x509.Certificate]]:
        async def refuse(*_: Any, **__: Any) -> Any:
            raise AssertionError("no admission request in this test")

        announced = []
        configs = server(refuse)
        try:
            async with asyncio.timeout(20):
                first = await anext(configs)
                announced.append(bundle(first))
                assert await asyncio.to_thread(served) == announced[0][0]
                now[0] += RENEW_AFTER + timedelta(minutes=1)
                # Until the bundle holds one certificate again, which is the new one.
                while len(announced) < 2 or len(announced[-1]) != 1:
                    announced.append(bundle(await anext(configs)))
                # kopf may have restarted its listener between the two files: ask until it is
                # the new certificate that answers (the bundle trusted it from the first step).
                while await asyncio.to_thread(served) != announced[-1][0]:
                    await asyncio.sleep(0.02)
        finally:
            await configs.aclose()
        return announced

    announced = asyncio.run(scenario())
    old, new = announced[0][0], announced[-1][0]
    assert old != new
    # The new certificate was trusted (old + new) before anything served it.
    assert [old, new] in announced
    assert announced.index([old, new]) < len(announced) - 1
