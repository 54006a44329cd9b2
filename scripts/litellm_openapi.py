"""Print the LiteLLM proxy's OpenAPI document, produced by the real package (run in its venv).

The proxy's FastAPI app builds the document offline: nothing is started, no database is needed.
``LITELLM_LOCAL_MODEL_COST_MAP`` keeps the import from fetching the model price map. Used by
``scripts/litellm-openapi.sh``; the contract tests in tests/providers/litellm validate every
request killswitch sends against this document.

    python scripts/litellm_openapi.py OUT.json
"""

from __future__ import annotations

import json
import os
import sys


def main() -> None:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    from importlib.metadata import version

    from litellm.proxy.proxy_server import app

    doc = app.openapi()
    doc.setdefault("info", {})["x-litellm-package-version"] = version("litellm")
    tmp = sys.argv[1] + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f)
    os.replace(tmp, sys.argv[1])  # readers never see a half-written file


if __name__ == "__main__":
    main()
