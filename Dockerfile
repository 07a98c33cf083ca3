# One image for every Corral worker; the command picks the worker:
#   docker run corral ingest | triage | notify | incidents   (ENTRYPOINT is `corral`)
# Dependencies are installed at the versions CI tested, each file checked
# against its hash in requirements.lock, into a virtualenv that the runtime
# stage copies alone.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml requirements.lock README.md ./
COPY shared ./shared
COPY services ./services
RUN python -m venv /opt/corral \
    && /opt/corral/bin/pip install --require-hashes -r requirements.lock \
    && /opt/corral/bin/pip install --no-deps .

FROM python:3.11-slim
LABEL org.opencontainers.image.title="corral" \
      org.opencontainers.image.description="Alert ingestion and auto-triage pipeline" \
      org.opencontainers.image.licenses="Apache-2.0"
# /var/lib/corral holds the incidents service's SQLite store: compose and
# Kubernetes mount its volume there, owned by the worker's user (a new named
# volume takes the owner of the directory it is mounted on).
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin corral \
    && install -d -o 10001 -g 10001 /var/lib/corral
COPY --from=build /opt/corral /opt/corral
ENV PATH=/opt/corral/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
# Numeric, so that Kubernetes can verify runAsNonRoot.
USER 10001
# ingest, triage, notify, incidents: HTTP API or health and /metrics (see deploy/corral.yml).
EXPOSE 9095 9096 9097 9098
# Workers stop on SIGTERM: finish the batch, commit, exit 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["corral"]
CMD ["ingest"]
