"""Alembic migrations of the state schema, shipped inside the package so a wheel carries them.

``killswitch.state.schema`` runs them (the daemon at start, ``killswitch migrate``); this directory
is an ordinary Alembic script directory: ``env.py``, ``script.py.mako`` and ``versions/``.
"""
