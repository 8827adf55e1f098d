# The orchestrator image: Python 3.11 slim, non-root, only what runs.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
RUN useradd --create-home --uid 10001 aura
WORKDIR /app
COPY pyproject.toml README.md ./
COPY stubs stubs
COPY orchestrator orchestrator
COPY mock_services mock_services
RUN pip install . && rm -rf /root/.cache

USER aura
ENV AURA_HOST=0.0.0.0 AURA_PORT=8006 AURA_DATA_DIR=/home/aura/data
EXPOSE 8006
# The standard gRPC health protocol, readiness of the orchestrator service.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s \
  CMD ["aura", "health", "--address", "127.0.0.1:8006", "--service", "aura.orchestrator.v1.OrchestratorService"]
CMD ["aura", "serve"]
