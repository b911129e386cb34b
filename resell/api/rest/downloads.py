"""Signed download links: streaming with Range, counting, expiry (410), tampering (403); Metalink documents."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
