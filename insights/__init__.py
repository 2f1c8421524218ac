"""Insights: where complaints come from and what they cost, computed in the database.

``selectors`` reads (Pareto, trends, repeats, KPIs, CAPA effectiveness), ``services`` raises
rising-cause alerts, ``api`` and ``views`` show them, ``charts`` draws them as SVG.
"""
