"""HTTP-JSON: spend from any JSON API (a vendor's usage endpoint, an internal billing service)."""

from killswitch.providers.http_json.provider import HttpJsonProvider

__all__ = ["HttpJsonProvider"]
