"""The digital locker: the end user signs in with order number and email and sees serials, instructions, links."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
