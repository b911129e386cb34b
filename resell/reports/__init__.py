"""The finance reports as files: CSV, JSON and PDF renderings of resell.services.reports' data.

The service computes (what is owed, the rounding, the months); these modules only write what it
computed, so that the `resell report` command and the back-office pages hand out the same figures.
"""

from __future__ import annotations

from resell.reports.files import FORMATS, render

__all__ = ["FORMATS", "render"]
