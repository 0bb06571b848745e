"""Webhooks: signatures, where a webhook may send, and a receiver."""
