"""crm.lib.charts: valid, inline-safe, deterministic SVG with its numbers as a table."""

import re

import pytest
from defusedxml import ElementTree
from django.template.loader import render_to_string

from crm.lib import charts

SVG = "{http://www.w3.org/2000/svg}"


def _parsed(chart: charts.Chart):
    return ElementTree.fromstring(str(chart.svg))


def _ids(chart: charts.Chart) -> list[str]:
    return re.findall(r'\bid="([^"]+)"', str(chart.svg))


def test_bar_chart_is_valid_svg_with_title_desc_and_viewbox_only():
    chart = charts.bar_chart(
        title="Orders by month",
        categories=["Jan", "Feb"],
        series={"New": [3, 4], "Returning": [1, 0]},
        description="New and returning customers",
    )
    root = _parsed(chart)
    assert root.tag == f"{SVG}svg"
    assert root.get("viewBox")
    assert root.get("width") == "100%" and root.get("height") is None
    # A strict CSP (style-src 'self') drops <style> and style="": none are used.
    assert "<style" not in chart.svg and "style=" not in chart.svg
    assert 'fill="#0072B2"' in chart.svg or 'fill="#0072b2"' in chart.svg
    assert root.find(f"{SVG}title").text == "Orders by month"
    assert root.find(f"{SVG}desc").text == "New and returning customers"
    assert "<script" not in chart.svg.lower()
    assert not re.search(r"\son[a-z]+=", str(chart.svg))
    assert "<?xml" not in chart.svg and "<!DOCTYPE" not in chart.svg
    assert "dc:date" not in chart.svg
    assert chart.table.columns == ["Orders by month", "New", "Returning"]
    assert chart.table.rows == [["Jan", "3", "1"], ["Feb", "4", "0"]]


def test_same_input_same_bytes_and_ids_unique_per_chart():
    first = charts.bar_chart(title="A", categories=["x"], series={"s": [1]})
    again = charts.bar_chart(title="A", categories=["x"], series={"s": [1]})
    other = charts.bar_chart(title="B", categories=["x"], series={"s": [1]})
    assert first.svg == again.svg
    assert len(_ids(first)) == len(set(_ids(first)))
    assert not set(_ids(first)) & set(_ids(other)), "two charts on a page share no id"
    # Every reference points at an id of the same chart.
    for ref in re.findall(r'href="#([^"]+)"', str(first.svg)):
        assert ref in _ids(first)


def test_chinese_labels_are_drawn_with_the_cjk_font_and_tabled():
    from matplotlib import font_manager

    installed = any("NotoSansCJK" in p for p in font_manager.findSystemFonts())
    if not installed:
        pytest.skip("fonts-noto-cjk is not installed (make test-deps installs it)")
    # Installed, it is used, even when matplotlib's font cache is older than the font.
    assert charts.CJK_FAMILY in charts.font_families()
    chart = charts.bar_chart(
        title="每月新客户", categories=["一月", "二月"], series={"新客户": [5, 7]}, stacked=True
    )
    _parsed(chart)
    # Text is drawn as paths: the glyphs come from Noto Sans CJK, not from the reader's fonts.
    assert "NotoSansCJK" in chart.svg
    assert chart.title == "每月新客户"
    assert chart.table.rows == [["一月", "5"], ["二月", "7"]]
    assert _parsed(chart).find(f"{SVG}title").text == "每月新客户"


def test_line_chart_and_heatmap_tables():
    line = charts.line_chart(
        title="SLA", x_labels=["W1", "W2", "W3"], series={"Met %": [90.5, 100, 75.25]}
    )
    _parsed(line)
    assert line.table.rows == [["W1", "90.5"], ["W2", "100"], ["W3", "75.25"]]
    grid = charts.heatmap(
        title="RFM",
        x_labels=[1, 2],
        y_labels=["R1", "R2"],
        values=[[10, None], [0, 1234]],
        x_label="F",
        y_label="R",
    )
    _parsed(grid)
    assert grid.table.columns == ["R \\ F", "1", "2"]
    assert grid.table.rows == [["R1", "10", "—"], ["R2", "0", "1,234"]]


def test_titles_are_escaped_and_mismatched_series_refused():
    chart = charts.line_chart(title="<b>&", x_labels=[], series={})
    assert "<b>" not in chart.svg
    assert _parsed(chart).find(f"{SVG}title").text == "<b>&"
    with pytest.raises(ValueError):
        charts.bar_chart(title="x", categories=["a", "b"], series={"s": [1]})
    with pytest.raises(ValueError):
        charts.heatmap(title="x", x_labels=["a"], y_labels=["b"], values=[[1, 2]])


def test_template_hides_the_picture_and_shows_the_numbers():
    chart = charts.bar_chart(title="Tickets", categories=["W1"], series={"Opened": [2]})
    page = render_to_string("charts/chart.html", {"chart": chart})
    assert 'aria-hidden="true"' in page
    assert "<table>" in page and '<th scope="row">W1</th>' in page
    assert '<td class="num">2</td>' in page
