"""The Connect REST API (v3) and the IAM token endpoints, on FastAPI."""
