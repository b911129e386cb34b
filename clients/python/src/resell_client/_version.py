"""The SDK's version: its major number is the REST generation it speaks (3: Connect REST v3)."""

__version__ = "3.0.0"
API_GENERATION = 3
