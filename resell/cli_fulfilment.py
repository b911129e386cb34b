"""Operator commands for fulfilment: product files and backup-DVD shipments.

Each command group here is a Typer app that resell.cli registers.
"""

from __future__ import annotations

import typer

APPS: dict[str, typer.Typer] = {}
