"""The page pieces of :mod:`mmmjax.report.html`: everything from the data is escaped, numbers
read as people write them, the page is self-contained."""

from __future__ import annotations

import math

from mmmjax.report import html


def test_text_is_escaped():
    assert html.para("<b>tv & co</b>") == "<p>&lt;b&gt;tv &amp; co&lt;/b&gt;</p>"
    cell = html.table([("<x>", 1.5)], ["a", "b"])
    assert "&lt;x&gt;" in cell and "<x>" not in cell


def test_numbers_for_people():
    assert html.fmt(True) == "yes" and html.fmt(12345) == "12,345" and html.fmt(math.nan) == "–"
    assert html.num(1_234_567.0) == "1.2M" and html.num(1.294) == "1.29"
    assert html.num_range(1.0, 0.5, 2.0) == "1.00 (0.50 to 2.00)"
    assert html.interval(1.0, 0.5, 2.0) == "1 [0.5, 2]" and html.pct(0.1234) == "12.3%"


def test_page_has_no_script_and_escapes_its_title():
    page = html.html_page("<t>", "", "model", [("a", "A & B", html.section("a", "A", []))])
    assert "<title>&lt;t&gt;</title>" in page and "<script" not in page
    assert '<a href="#a">A &amp; B</a>' in page
