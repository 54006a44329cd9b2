"""Prometheus: spend from PromQL instant queries (LiteLLM's spend counter, OpenCost, your own)."""

from killswitch.providers.prometheus.provider import PrometheusProvider

__all__ = ["PrometheusProvider"]
