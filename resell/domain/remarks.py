"""Remark templates: install and activation instructions with the buyer's details filled in."""

from __future__ import annotations

import re

from markupsafe import escape

_PLACEHOLDER = re.compile(r"%(FIRSTNAME|LASTNAME|GAMENAME|IDTRAN)%")


def fill_remark(template: str, first_name: str | None, last_name: str | None, game_name: str, order_number: int) -> str:
    """Replace %FIRSTNAME%, %LASTNAME%, %GAMENAME% and %IDTRAN% (the platform order number).

    The template is the product's HTML, written by the operator or publisher, and stays HTML. What
    fills it is text: each value is HTML-escaped, so a buyer's name shows as typed and never becomes
    markup (a link, an image) in the locker, the delivery email or the merchant's shop. One pass, so a
    name holding "%IDTRAN%" stays as typed too.
    """
    values = {
        "FIRSTNAME": first_name or "",
        "LASTNAME": last_name or "",
        "GAMENAME": game_name,
        "IDTRAN": str(order_number),
    }
    return _PLACEHOLDER.sub(lambda match: str(escape(values[match.group(1)])), template)
