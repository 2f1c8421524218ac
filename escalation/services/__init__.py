"""Writes of the escalation app: clocks (``clocks``), the ladder (``ladder``), the sweep."""
