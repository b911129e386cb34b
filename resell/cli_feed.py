"""Operator commands for product feeds.

Each command group here is a Typer app that resell.cli registers.
"""

from __future__ import annotations

import typer

APPS: dict[str, typer.Typer] = {}
