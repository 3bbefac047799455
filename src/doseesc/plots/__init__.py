"""Figures (matplotlib, object-oriented API): each function takes or returns a ``Figure``."""
