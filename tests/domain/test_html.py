"""Remarks may hold HTML: only harmless formatting survives."""

from __future__ import annotations

from resell.domain.html import as_text, safe_html


def test_formatting_and_safe_links_survive() -> None:
    html = str(safe_html('Install <b>now</b>, then <a href="https://example.com/activate" onclick="x()">activate</a>'))
    assert (
        html == 'Install <b>now</b>, then <a href="https://example.com/activate" rel="noopener noreferrer">activate</a>'
    )


def test_scripts_handlers_and_dangerous_links_do_not() -> None:
    html = str(
        safe_html(
            '<script>alert(1)</script>Hi <img src=x onerror=alert(2)><a href="javascript:alert(3)">x</a>'
            '<iframe src="https://evil.test"></iframe><style>body{}</style>'
        )
    )
    for bad in ("script", "alert", "onerror", "javascript", "iframe", "<img", "style"):
        assert bad not in html, bad
    assert "Hi" in html and "<a>x</a>" in html


def test_plain_text_is_escaped_and_keeps_its_lines() -> None:
    assert str(safe_html("a < b & c\nnext line")) == "a &lt; b &amp; c<br>next line"
    assert str(safe_html("line one\nline two")) == "line one<br>\nline two"
    assert str(safe_html("")) == ""


def test_text_version() -> None:
    assert as_text("<p>Step one</p><p>Step <b>two</b></p><script>x()</script>") == "Step one\nStep two"
    assert as_text("plain") == "plain"
