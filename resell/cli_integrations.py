"""Operator commands for merchant integrations: webhook endpoints and the audit trail.

Each command group here is a Typer app that resell.cli registers.
"""

from __future__ import annotations

import typer

APPS: dict[str, typer.Typer] = {}
