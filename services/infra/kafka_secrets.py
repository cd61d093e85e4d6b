"""The local brokers' development secrets: a password per CaseTrail Kafka user, and for TLS a
private certificate authority and the brokers' certificate.

All of it lives in ``<state_dir>/secrets/kafka/`` (a directory of mode 700, files of mode 600),
made once by ``casetrail infra up`` and never part of the repository. Production sets each
service's ``CASETRAIL_KAFKA_USER`` and password (file) instead, from its own secret store.
"""

import ipaddress
import os
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from services.settings import KafkaRole, Settings


def _write_secret(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)


def secrets_dir(settings: Settings) -> Path:
    directory = settings.kafka_secrets_dir.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    return directory


def ensure_passwords(settings: Settings) -> dict[str, str]:
    """Each role's user and its password, made where missing."""
    directory = secrets_dir(settings)
    passwords = {}
    for role in KafkaRole:
        path = directory / f"{role.value}.password"
        if not path.exists():
            _write_secret(path, secrets.token_urlsafe(24) + "\n")
        passwords[role.value] = path.read_text().strip()
    return passwords


def ensure_certificates(settings: Settings, hosts: list[str]) -> tuple[Path, Path]:
    """The CA certificate clients trust (``ca.pem``) and the brokers' key and certificate
    (``broker.pem``, PKCS#8 key then certificate, as Kafka's PEM key store wants them), for
    ``hosts`` (IP addresses or names). Made where missing."""
    directory = secrets_dir(settings)
    ca_path, broker_path = directory / "ca.pem", directory / "broker.pem"
    if ca_path.exists() and broker_path.exists():
        return ca_path, broker_path
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CaseTrail development CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    broker_key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    broker = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "casetrail-kafka")]))
        .issuer_name(ca_name)
        .public_key(broker_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = broker_key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write_secret(broker_path, (key_pem + broker.public_bytes(pem)).decode())
    _write_secret(ca_path, ca.public_bytes(pem).decode())
    return ca_path, broker_path
