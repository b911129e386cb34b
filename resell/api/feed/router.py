"""The product feed: GET /flow/getcatalog/v2.4/ as XML or CSV, full, differential or incremental."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
