#!/usr/bin/env bash
# Creates benchmarks/.venv-peers with the peer frameworks (DBOS, Prefect) at pinned versions.
# They are kept out of the project's own venv: neither is a dependency of the orchestrator.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$(dirname "$here")/.venv-peers"
python="${PYTHON:-python3.11}"
if [[ ! -x "$venv/bin/python" ]]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -r "$here/requirements.txt"
"$venv/bin/python" - <<'PY'
from importlib.metadata import version

print(", ".join(f"{name} {version(name)}" for name in ("dbos", "prefect", "grpcio", "protobuf")))
PY
echo "peers venv ready: $venv"
