"""Calls to publishers: revoked-serial callbacks."""

from __future__ import annotations
