"""Remark templates: the product's HTML stays HTML, what fills it is escaped text."""

from __future__ import annotations

from resell.domain.remarks import fill_remark


def test_the_template_stays_html_and_the_values_are_escaped() -> None:
    template = '<p>Hi %FIRSTNAME% %LASTNAME%,</p><a href="https://pub.example/a">activate %GAMENAME%</a> #%IDTRAN%'
    filled = fill_remark(template, '<img src=x onerror="alert(1)">', "<b>Lovelace</b>", "Tom & Jerry", 42)
    assert filled == (
        "<p>Hi &lt;img src=x onerror=&#34;alert(1)&#34;&gt; &lt;b&gt;Lovelace&lt;/b&gt;,</p>"
        '<a href="https://pub.example/a">activate Tom &amp; Jerry</a> #42'
    )


def test_a_value_holding_a_placeholder_stays_as_typed() -> None:
    assert fill_remark("%FIRSTNAME%/%LASTNAME%", "%LASTNAME%", "%IDTRAN%", "g", 7) == "%LASTNAME%/%IDTRAN%"
    assert fill_remark("Hi %FIRSTNAME%%LASTNAME%", None, None, "g", 7) == "Hi "
