"""Remark templates: install and activation instructions with the buyer's details filled in."""

from __future__ import annotations


def fill_remark(template: str, first_name: str | None, last_name: str | None, game_name: str, order_number: int) -> str:
    """Replace %FIRSTNAME%, %LASTNAME%, %GAMENAME% and %IDTRAN% (the platform order number)."""
    return (
        template.replace("%FIRSTNAME%", first_name or "")
        .replace("%LASTNAME%", last_name or "")
        .replace("%GAMENAME%", game_name)
        .replace("%IDTRAN%", str(order_number))
    )
