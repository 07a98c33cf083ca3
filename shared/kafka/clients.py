"""Client construction from ``KafkaSettings``: one place for TLS, SASL and timeouts."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.helpers import create_ssl_context

from shared.config import ConfigError, KafkaSettings
from shared.kafka import zstd
from shared.secrets import secret

log = structlog.get_logger(__name__)


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _ssl_context(settings: KafkaSettings) -> ssl.SSLContext:
    """TLS verifying the brokers against ``ssl_cafile`` (else the system's CAs),
    presenting ``ssl_certfile`` when the brokers ask for client certificates."""
    try:
        context: ssl.SSLContext = create_ssl_context(
            cafile=settings.ssl_cafile,
            certfile=settings.ssl_certfile,
            keyfile=settings.ssl_keyfile,
        )
    except (OSError, ssl.SSLError) as exc:
        # A missing or wrong file does not fix itself: say which, and stop,
        # rather than retry the connection forever.
        files = {
            name: getattr(settings, name)
            for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile")
            if getattr(settings, name)
        }
        named = ", ".join(f"kafka.{name}={path}" for name, path in files.items())
        raise ConfigError([f"{named or 'kafka TLS'}: cannot load: {exc}"]) from None
    return context


def connection_options(settings: KafkaSettings) -> dict[str, Any]:
    zstd.install()  # before any client compresses or reads a batch
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "client_id": settings.client_id,
        "security_protocol": settings.security_protocol,
        "request_timeout_ms": _ms(settings.request_timeout.total_seconds()),
    }
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = _ssl_context(settings)
    if settings.security_protocol.startswith("SASL"):
        password = secret(
            settings.sasl_password, settings.sasl_password_file, "kafka.sasl_password"
        )
        if password is None:
            # Not required by the config model: the password usually arrives
            # through the environment, which `corral check-config` ignores.
            raise ConfigError(
                [
                    f"kafka.sasl_password: required with security_protocol "
                    f"{settings.security_protocol}; set it (or sasl_password_file) in the "
                    "config file or in CORRAL_KAFKA__SASL_PASSWORD"
                ]
            )
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.sasl_username
        options["sasl_plain_password"] = password()
    return options


def new_producer(settings: KafkaSettings) -> AIOKafkaProducer:
    """A producer whose writes count only once every in-sync replica has them.

    Not idempotent: the design is at-least-once delivery with idempotent
    consumers, which also works with brokers lacking InitProducerId v0.
    """
    return AIOKafkaProducer(
        **connection_options(settings),
        acks="all",
        linger_ms=round(settings.linger.total_seconds() * 1000),
        # aiokafka's default batch holds a few dozen alerts: a large webhook
        # would become several produce requests, and socket writes would dominate.
        max_batch_size=settings.max_batch_bytes,
        max_request_size=4 * 1024 * 1024,
        compression_type=None if settings.compression == "none" else settings.compression,
    )


def new_consumer(settings: KafkaSettings, group_id: str | None, **extra: Any) -> AIOKafkaConsumer:
    options = {
        **connection_options(settings),
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": _ms(settings.session_timeout.total_seconds()),
        "heartbeat_interval_ms": _ms(settings.heartbeat_interval.total_seconds()),
        "fetch_max_wait_ms": _ms(settings.fetch_max_wait.total_seconds()),
        "max_poll_records": settings.max_batch,
        **extra,
    }
    return AIOKafkaConsumer(**options)


async def stop_consumer(consumer: AIOKafkaConsumer) -> None:
    """``consumer.stop()``, and closed even when a fetch had failed just before.

    aiokafka's fetcher cancels the fetch requests it has in flight on close
    and awaits them; one that failed (a broker timeout, say) and is waiting
    out its retry backoff re-raises the cancellation (aio-libs/aiokafka#974).
    ``stop()`` then raised ``CancelledError`` into a caller nobody cancelled,
    before closing the consumer's connections: a worker's shutdown stopped
    halfway, and a state read that ended then looked cancelled. Such a stray
    cancellation ends here and the connections are closed; one aimed at the
    caller still propagates.
    """
    task = asyncio.current_task()
    cancelling = 0 if task is None else task.cancelling()
    try:
        await consumer.stop()
    except asyncio.CancelledError:
        if task is None or task.cancelling() > cancelling:
            raise
        log.warning("consumer closed after a fetch that was waiting to retry")
        # stop() left off before this step; there is no public way to take it.
        await consumer._client.close()


def new_admin(settings: KafkaSettings) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(**connection_options(settings))
