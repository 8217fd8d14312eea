"""Operators' reports computed from the database: the admin dashboard."""
