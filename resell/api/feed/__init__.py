"""Product feed renderers (XML, CSV)."""
