"""The demo catalogue shipped with resell (catalog.json)."""
