"""Imports of complaint history from outside sources (one module per source)."""
