"""Outbound network safety."""
