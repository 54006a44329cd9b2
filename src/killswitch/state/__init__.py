"""Persistent state (SQLAlchemy)."""

from killswitch.state.store import JournalRow, OutboxItem, Store

__all__ = ["JournalRow", "OutboxItem", "Store"]
