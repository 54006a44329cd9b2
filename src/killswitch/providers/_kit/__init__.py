"""Shared building blocks for provider plugins (not a provider itself).

Code that two or more providers would otherwise write again lives here, one module per concern,
so a plugin stays a thin description of its provider's API.
"""
