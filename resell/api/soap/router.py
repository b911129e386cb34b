"""The legacy SOAP 1.1 API (v2.2, v2.3, v2.4): WSDLs and endpoints over the same services as REST."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
