"""The accessibility check of the browser tests: axe-core (pinned in tests/package-lock.json, installed by
`make test`) run inside a page, failing on any violation of impact "serious" or "critical".

The pages forbid scripts (Content-Security-Policy): the contexts that run the check bypass it, so that
axe can be injected; what it checks is the page as served.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import Page

AXE = Path(__file__).resolve().parents[1] / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")


def violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now (WCAG 2.x A and AA rules, and axe's best practices)."""
    assert AXE.is_file(), f"{AXE} is missing: run `make test`, or `npm ci --prefix tests`"
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    return page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")  # type: ignore[no-any-return]


def _node(node: dict[str, Any]) -> str:
    """An element axe names, and the last line of its reason ("Element has insufficient color contrast ...")."""
    reason = (node.get("failureSummary") or "").strip().splitlines()
    return " ".join(node["target"]) + (f" ({reason[-1].strip()})" if reason else "")


def assert_accessible(page: Page, what: str) -> None:
    """No serious or critical violation on the page; the failure lists each, with the elements concerned."""
    blocking = [v for v in violations(page) if v["impact"] in BLOCKING]
    lines = [
        f"  [{v['impact']}] {v['id']}: {v['help']} -> " + "; ".join(_node(node) for node in v["nodes"][:5])
        for v in blocking
    ]
    assert not blocking, f"{what}: {len(blocking)} accessibility violation(s):\n" + "\n".join(lines)
