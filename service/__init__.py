"""Reseller Ordering API."""
