#!/usr/bin/env bash
# Produce the LiteLLM proxy's OpenAPI document from the real `litellm[proxy]` package on PyPI.
#
#   scripts/litellm-openapi.sh [OUT]     default OUT: .ci/cache/litellm/openapi-$LITELLM_VERSION.json
#
# litellm[proxy] is ~750 MB of dependencies, so it gets its own venv under .ci/cache/litellm/
# (created once: 1 min 41 s measured, install included; then the document takes ~20 s)
# instead of the project's test extra.
# LITELLM_PYTHON=/path/to/python uses an existing interpreter that has litellm[proxy] instead.
# The tests in tests/providers/litellm run this when the document is not cached yet.
set -euo pipefail
cd "$(dirname "$0")/.."

LITELLM_VERSION="${LITELLM_VERSION:-1.108.7}"
CACHE=.ci/cache/litellm
OUT="${1:-$CACHE/openapi-$LITELLM_VERSION.json}"
mkdir -p "$CACHE" "$(dirname "$OUT")"

PY="${LITELLM_PYTHON:-}"
if [[ -z "$PY" ]]; then
  VENV="$CACHE/venv-$LITELLM_VERSION"
  PY="$VENV/bin/python"
  if [[ ! -f "$VENV/.installed" ]]; then
    echo "litellm-openapi: installing litellm[proxy]==$LITELLM_VERSION into $VENV" >&2
    python3 -m venv "$VENV"
    "$PY" -m pip install --quiet --disable-pip-version-check "litellm[proxy]==$LITELLM_VERSION"
    touch "$VENV/.installed"
  fi
fi
"$PY" scripts/litellm_openapi.py "$OUT"
echo "$OUT"
