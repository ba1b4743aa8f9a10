"""The webhook's TLS certificate and the client config the API server is given."""

from __future__ import annotations

import ssl
from pathlib import Path

import kopf
from cryptography import x509

from kaudit.controller.webhook import service_client_config, write_self_signed_certificate


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


def test_the_certificate_names_the_service_and_loads_as_a_server_certificate(
    tmp_path: Path,
) -> None:
    names = ["kaudit-webhook.kaudit-system.svc", "127.0.0.1"]
    cert_path, key_path = write_self_signed_certificate(tmp_path, names=names)
    certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    alternative = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert alternative.get_values_for_type(x509.DNSName) == ["kaudit-webhook.kaudit-system.svc"]
    assert [str(ip) for ip in alternative.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert key_path.stat().st_mode & 0o077 == 0
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
