"""Delivery emails to end users, over SMTP."""

from __future__ import annotations
