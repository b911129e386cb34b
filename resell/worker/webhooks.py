"""Webhook deliveries to merchants, signed per Standard Webhooks."""

from __future__ import annotations
