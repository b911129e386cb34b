"""Subscription renewals, run as a periodic job of every worker pass."""

from __future__ import annotations
