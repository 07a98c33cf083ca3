"""``email_configs``: a multipart (plain text + HTML) mail over SMTP.

STARTTLS is required by default (``require_tls``) and the server certificate
verified, against ``tls_config.ca_file`` when given; AUTH is used when
``auth_username`` is set, and only over TLS: with ``require_tls: false``
STARTTLS is still used when the server offers it, and a server that does not
gets no password unless the config says ``insecure_auth: true``. The ``Message-ID`` is
derived from the notification's idempotency key, so a resend after a crash
carries the same id, which many mail systems collapse into one message.
SMTP 4xx replies and network trouble are retried; 5xx replies are not.
"""

from __future__ import annotations

import re
import ssl
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib

from services.notify.config import EmailConfig
from services.notify.receivers.base import Delivery, DeliveryError
from services.notify.templates import Flavor, Templates, delivery_context

_ATOM_UNSAFE = re.compile(r"[^A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]")


def tls_context(config: EmailConfig) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=config.tls_config.ca_file)
    if config.tls_config.insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class EmailIntegration:
    def __init__(self, name: str, config: EmailConfig, templates: Templates):
        self.name = name
        self.config = config
        self.templates = templates
        self.send_resolved = config.send_resolved
        self.acknowledges = False
        self.host, _, port = config.smarthost.rpartition(":")
        self.port = int(port)
        self.tls = tls_context(config)
        self.password = config.secret("auth_password")

    def message(self, delivery: Delivery) -> EmailMessage:
        config = self.config
        context = delivery_context(delivery)
        context["title"] = self.templates.render(None, "title", context, Flavor.TEXT)
        message = EmailMessage()
        for name, value in config.headers.items():
            message[name] = value
        subject = self.templates.render(config.subject, "title", context, Flavor.TEXT)
        message["Subject"] = " ".join(subject.split())
        message["From"] = config.from_
        message["To"] = ", ".join(config.to)
        message["Date"] = formatdate(localtime=False, usegmt=True)
        local = _ATOM_UNSAFE.sub("-", f"{delivery.idempotency_key}.{delivery.receiver}.{self.name}")
        message["Message-ID"] = f"<{local}@corral>"
        message["X-Corral-Incident"] = delivery.incident.id
        message.set_content(self.templates.render(config.text, "email_text", context, Flavor.TEXT))
        message.add_alternative(
            self.templates.render(config.html, "email_html", context, Flavor.HTML), subtype="html"
        )
        return message

    async def notify(self, delivery: Delivery) -> None:
        config = self.config
        message = self.message(delivery)
        smtp = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            local_hostname=config.hello,
            start_tls=True if config.require_tls else None,
            tls_context=self.tls,
            timeout=config.timeout.total_seconds(),
        )
        try:
            async with smtp:
                if config.auth_username:
                    await self._login(smtp)
                await smtp.send_message(message)
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryError(
                f"SMTP {exc.code}: {exc.message}", retryable=400 <= exc.code < 500
            ) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            # Connection refused or dropped, timeouts, TLS trouble: try again.
            raise DeliveryError(f"{type(exc).__name__}: {exc}", retryable=True) from None

    async def _login(self, smtp: aiosmtplib.SMTP) -> None:
        encrypted = smtp.get_transport_info("sslcontext") is not None
        if not encrypted and not self.config.insecure_auth:
            raise DeliveryError(
                f"{self.config.smarthost} offers no STARTTLS: refusing to send the SMTP "
                "password in clear (set insecure_auth: true to allow it)",
                retryable=False,
            )
        password = self.password() if self.password is not None else ""
        await smtp.login(self.config.auth_username or "", password)
