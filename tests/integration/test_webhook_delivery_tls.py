"""https delivery to the pinned address: Host and SNI carry the URL's name, the certificate is
verified against that name although the connection goes to the checked IP."""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from standardwebhooks import Webhook

from idproof.webhooks.schemas import CreateEndpoint
from idproof.webhooks.service import Caller, WebhookService
from tests.webhook_receiver import Receiver, start_receiver, stop_receiver


def _self_signed(name: str, directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def tls_receiver(tmp_path: Path) -> Iterator[tuple[Receiver, Path]]:
    cert, key = _self_signed("hooks.test", tmp_path)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    rec = start_receiver(server_ctx)
    yield rec, cert
    stop_receiver(rec)


def _service(container, cert: Path) -> WebhookService:
    client_ctx = ssl.create_default_context(cafile=str(cert))
    # A DNS we control: both names answer loopback (allowed here, as in local development).
    return WebhookService(container.db, container.audit, b"s" * 32, tasks=container.jobs,
                          allow_private_networks=True, timeout_seconds=2,
                          clock=container.clock, tls_context=client_ctx,
                          resolver=lambda host, port: ["127.0.0.1"])


def test_https_to_pinned_ip_with_host_and_sni(container, tls_receiver) -> None:
    rec, cert = tls_receiver
    svc = _service(container, cert)
    tenant = container.tenants.find("demo")
    ep = svc.create_endpoint(Caller(tenant.id), CreateEndpoint(
        url=f"https://hooks.test:{rec.port}/hook", event_types=["session.created"]))
    d = svc.send_test(Caller(tenant.id), ep.id)
    assert svc.deliver(d.id) == "delivered"
    (req,) = rec.received
    assert req.headers["host"] == f"hooks.test:{rec.port}"
    assert rec.sni == ["hooks.test"]
    assert Webhook(ep.secret).verify(req.body, req.headers)["type"] == "webhook.test"


def test_certificate_for_another_name_is_refused(container, tls_receiver) -> None:
    rec, cert = tls_receiver
    svc = _service(container, cert)
    tenant = container.tenants.find("demo")
    ep = svc.create_endpoint(Caller(tenant.id), CreateEndpoint(
        url=f"https://other.test:{rec.port}/hook", event_types=["session.created"]))
    d = svc.send_test(Caller(tenant.id), ep.id)
    assert svc.deliver(d.id) == "pending"
    assert rec.received == [] and rec.sni == ["other.test"]
    (view,) = svc.list_deliveries(tenant.id, ep.id)
    assert view.last_error == "connection_failed"
