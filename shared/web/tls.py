"""TLS contexts for the workers' listeners, from ``tls_server_config``."""

from __future__ import annotations

import ssl

from shared.config import ConfigError
from shared.web.config import TLS_VERSIONS, TlsServerConfig

_VERIFY = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}


def server_context(config: TlsServerConfig) -> ssl.SSLContext:
    """A server context as exporter-toolkit builds one: the certificate and key,
    the protocol range, and client certificates verified against
    ``client_ca_file`` when ``client_auth_type`` asks for them."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = TLS_VERSIONS[config.min_version]
    context.maximum_version = TLS_VERSIONS[config.max_version]
    try:
        context.load_cert_chain(config.cert_file, config.key_file)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            [f"{config.cert_file}, {config.key_file}: cannot load certificate and key: {exc}"]
        ) from None
    context.verify_mode = _VERIFY[config.client_auth_type]
    if config.client_ca_file is not None:
        try:
            context.load_verify_locations(cafile=config.client_ca_file)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError([f"{config.client_ca_file}: cannot load CA: {exc}"]) from None
    return context
