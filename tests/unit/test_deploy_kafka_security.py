"""Kafka TLS and SASL from configuration: what each mode hands the Kafka clients."""

from __future__ import annotations

import re
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from services.corral import config as corral_config
from shared.config import ConfigError, KafkaSettings
from shared.kafka.clients import connection_options, new_consumer, new_producer


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed CA certificate and its key, standing in for a cluster's CA
    and for a client certificate alike."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is needed to make a test certificate")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "ca.crt", directory / "ca.key"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=corral-test-ca", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def settings(**values: object) -> KafkaSettings:
    return KafkaSettings.model_validate({"bootstrap_servers": "kafka:9093", **values})


def test_plaintext_has_neither_tls_nor_sasl() -> None:
    options = connection_options(settings())
    assert options["security_protocol"] == "PLAINTEXT"
    assert "ssl_context" not in options
    assert "sasl_mechanism" not in options


def test_tls_verifies_brokers_against_the_configured_ca(certificate: tuple[Path, Path]) -> None:
    cert, _ = certificate
    options = connection_options(settings(security_protocol="SSL", ssl_cafile=str(cert)))
    context: ssl.SSLContext = options["ssl_context"]
    assert options["security_protocol"] == "SSL"
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert [ca["subject"] for ca in context.get_ca_certs()] == [
        ((("commonName", "corral-test-ca"),),)
    ]


def test_tls_without_a_ca_file_still_verifies_brokers() -> None:
    context: ssl.SSLContext = connection_options(settings(security_protocol="SSL"))["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


def test_mutual_tls_presents_the_client_certificate(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    options = connection_options(
        settings(
            security_protocol="SSL",
            ssl_cafile=str(cert),
            ssl_certfile=str(cert),
            ssl_keyfile=str(key),
        )
    )
    assert isinstance(options["ssl_context"], ssl.SSLContext)


def test_a_client_key_that_does_not_match_is_a_config_error(
    certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    cert, _ = certificate
    other_key = tmp_path / "other.key"
    subprocess.run(
        ["openssl", "genrsa", "-out", str(other_key), "2048"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    with pytest.raises(ConfigError, match=r"kafka.ssl_certfile=.*kafka.ssl_keyfile=.*cannot load"):
        connection_options(
            settings(security_protocol="SSL", ssl_certfile=str(cert), ssl_keyfile=str(other_key))
        )


def test_a_missing_ca_file_is_a_config_error_not_an_endless_retry(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "ca.crt"
    with pytest.raises(ConfigError, match=re.escape(f"kafka.ssl_cafile={missing}: cannot load")):
        connection_options(settings(security_protocol="SSL", ssl_cafile=str(missing)))


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_over_tls_passes_mechanism_and_credentials(
    mechanism: str, certificate: tuple[Path, Path]
) -> None:
    cert, _ = certificate
    options = connection_options(
        settings(
            security_protocol="SASL_SSL",
            sasl_mechanism=mechanism,
            sasl_username="corral",
            sasl_password="s3cret",
            ssl_cafile=str(cert),
        )
    )
    assert options["security_protocol"] == "SASL_SSL"
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert (
        options["sasl_mechanism"],
        options["sasl_plain_username"],
        options["sasl_plain_password"],
    ) == (mechanism, "corral", "s3cret")


def test_sasl_without_tls_has_no_tls_context() -> None:
    options = connection_options(
        settings(
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="SCRAM-SHA-256",
            sasl_username="corral",
            sasl_password="s3cret",
        )
    )
    assert "ssl_context" not in options
    assert options["sasl_mechanism"] == "SCRAM-SHA-256"


def test_sasl_without_a_password_says_where_to_put_it() -> None:
    sasl = settings(security_protocol="SASL_SSL", sasl_mechanism="PLAIN", sasl_username="corral")
    with pytest.raises(ConfigError, match=r"kafka.sasl_password.*CORRAL_KAFKA__SASL_PASSWORD"):
        connection_options(sasl)


async def test_kafka_clients_accept_the_options(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    secured = settings(
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="corral",
        sasl_password="s3cret",
        ssl_cafile=str(cert),
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
    )
    producer = new_producer(secured)
    consumer = new_consumer(secured, "corral-test")
    # Constructed, never started: aiokafka checks the options when built.
    await producer.stop()
    await consumer.stop()


def write_config(tmp_path: Path, kafka: str) -> Path:
    path = tmp_path / "corral.yml"
    path.write_text(f"log:\n  level: info\nkafka:\n{kafka}")
    return path


@pytest.mark.parametrize(
    ("kafka", "problem"),
    [
        (
            "  ssl_cafile: /etc/kafka/ca.crt\n",
            "ssl_cafile needs security_protocol SSL or SASL_SSL",
        ),
        (
            "  security_protocol: SSL\n  sasl_username: corral\n",
            "sasl_username needs security_protocol SASL_PLAINTEXT or SASL_SSL",
        ),
        (
            "  security_protocol: SASL_SSL\n  sasl_username: corral\n",
            "security_protocol SASL_SSL needs sasl_mechanism",
        ),
        (
            "  security_protocol: SASL_SSL\n  sasl_mechanism: SCRAM-SHA-512\n",
            "needs sasl_mechanism .* and sasl_username",
        ),
        (
            "  security_protocol: SSL\n  ssl_keyfile: /etc/kafka/client.key\n",
            "ssl_keyfile needs ssl_certfile",
        ),
        (
            "  security_protocol: SASL_SSL\n  sasl_mechanism: GSSAPI\n  sasl_username: c\n",
            "sasl_mechanism: Input should be 'PLAIN', 'SCRAM-SHA-256' or 'SCRAM-SHA-512'",
        ),
    ],
)
def test_check_config_rejects_security_settings_that_would_not_apply(
    tmp_path: Path, kafka: str, problem: str
) -> None:
    path = write_config(tmp_path, kafka)
    with pytest.raises(ConfigError) as error:
        corral_config.load(path, env={})
    [message] = error.value.problems
    assert message.startswith(f"{path}:")
    assert re.search(problem, message), message


def test_the_password_can_come_from_the_environment(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        "  security_protocol: SASL_SSL\n  sasl_mechanism: SCRAM-SHA-512\n  sasl_username: corral\n",
    )
    loaded = corral_config.load(path, env={"CORRAL_KAFKA__SASL_PASSWORD": "from-a-secret"})
    assert loaded.kafka.sasl_password == "from-a-secret"
    assert connection_options(loaded.kafka)["sasl_plain_password"] == "from-a-secret"
