"""Writes of the recovery app: one module per noun, one function per thing that happens."""
