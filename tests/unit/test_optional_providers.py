"""A missing cloud SDK (an optional extra) must not stop the daemon or other providers."""

import subprocess
import sys

SCRIPT = """
import sys
sys.modules["boto3"] = None  # as if killswitch-daemon[aws] were not installed
from killswitch.plugins import registry
from killswitch import config
from killswitch.errors import ConfigError
registry.load()
assert "aws" not in registry.providers and "simulated" in registry.providers
assert "killswitch-daemon[aws]" in registry.unavailable["aws"]
try:
    config.parse({"providers": {"a": {"type": "aws", "region": "us-east-1"}}})
except ConfigError as exc:
    print(exc.render())
"""


def test_provider_with_missing_sdk_is_skipped_with_an_install_hint() -> None:
    res = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "providers.a.type: provider type 'aws' is not available" in res.stdout
    assert "pip install 'killswitch-daemon[aws]'" in res.stdout
