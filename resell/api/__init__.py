"""Protocols: each parses a request, calls a service and renders its result. No rule lives here."""
