"""``email_configs``: a multipart (plain text + HTML) mail over SMTP.

STARTTLS is required by default (``require_tls``) and the server certificate
verified, against ``tls_config.ca_file`` when given; AUTH is used when
``auth_username`` is set, only ever after STARTTLS. The ``Message-ID`` is
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
from services.notify.templates import Flavor, Templates, template_context

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

    def message(self, delivery: Delivery) -> EmailMessage:
        config = self.config
        context = template_context(delivery.incident, delivery.receiver, delivery.repeat)
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
        try:
            await aiosmtplib.send(
                self.message(delivery),
                hostname=self.host,
                port=self.port,
                local_hostname=config.hello,
                username=config.auth_username,
                password=config.auth_password,
                start_tls=True if config.require_tls else None,
                tls_context=self.tls,
                timeout=config.timeout.total_seconds(),
            )
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryError(
                f"SMTP {exc.code}: {exc.message}", retryable=400 <= exc.code < 500
            ) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            # Connection refused or dropped, timeouts, TLS trouble: try again.
            raise DeliveryError(f"{type(exc).__name__}: {exc}", retryable=True) from exc
