# Aura Orchestrator: one image for the orchestrator (`aura serve`, the default) and the
# mock services (`python -m mock_services.<name>`). Only what runs: the installed package
# (orchestrator, grpc_guard, mock_services and the generated stubs) in a virtualenv, no sources,
# protos, tests or build tools.
#
#   docker build -t aura-orchestrator .
#   docker run --rm -p 8006:8006 -p 9464:9464 aura-orchestrator

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/aura
WORKDIR /src
COPY pyproject.toml README.md ./
COPY orchestrator ./orchestrator
COPY grpc_guard ./grpc_guard
COPY mock_services ./mock_services
COPY stubs ./stubs
RUN /opt/aura/bin/pip install --upgrade pip \
 && /opt/aura/bin/pip install . \
 && /opt/aura/bin/pip uninstall --yes pip setuptools wheel

FROM python:3.11-slim
RUN groupadd --system --gid 10001 aura \
 && useradd --system --uid 10001 --gid aura --home-dir /var/lib/aura --create-home aura
COPY --from=build /opt/aura /opt/aura
ENV PATH=/opt/aura/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    AURA_HOST=0.0.0.0 \
    AURA_PORT=8006 \
    AURA_DATA_DIR=/var/lib/aura \
    AURA_METRICS_HOST=0.0.0.0 \
    AURA_METRICS_PORT=9464 \
    AURA_LOG_FORMAT=json \
    AURA_SHUTDOWN_GRACE_S=10 \
    AURA_MOCK_HOST=0.0.0.0
USER 10001:10001
WORKDIR /var/lib/aura
VOLUME ["/var/lib/aura"]
EXPOSE 8006 9464
# gRPC health protocol, readiness of the orchestrator service (NOT_SERVING while draining).
# tests/integration/server/test_healthcheck_command.py runs this exact command.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["aura", "health", "--service", "aura.orchestrator.v1.OrchestratorService"]
# exec form: aura is PID 1's only child-free process and receives SIGTERM itself.
STOPSIGNAL SIGTERM
ENTRYPOINT ["aura"]
CMD ["serve"]
