"""Ingest: an authenticated push endpoint for spend (``POST /v1/spend``), off unless configured."""

from killswitch.providers.ingest.provider import IngestProvider

__all__ = ["IngestProvider"]
