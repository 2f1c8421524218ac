"""Shared plumbing that knows no app: errors, bulk writes, field types, text rules, admin bases.

Nothing here imports ``recovery``, ``escalation``, ``notifications`` or an interface app, so
every app can use it without a circle (the import contracts in ``pyproject.toml`` hold it).
"""
