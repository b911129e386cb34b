"""Merchant webhook endpoints: POST, GET, DELETE /connect/webhooks."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
