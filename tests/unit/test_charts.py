"""Server-drawn SVG charts: well-formed, no inline styles (CSP), labelled, honest about missing values."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from hotline import charts

SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize("top, integer, ticks", [
    (0, True, [0, 1]),
    (3, True, [0, 1, 2, 3]),
    (7, True, [0, 2, 4, 6, 8]),
    (1.0, False, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
    (1.3, False, [0, 0.5, 1.0, 1.5]),
    (980, True, [0, 200, 400, 600, 800, 1000]),
])
def test_ticks_are_round_and_reach_the_top(top: float, integer: bool, ticks: list[float]) -> None:
    assert charts.nice_ticks(top, integer=integer) == ticks


def _parse(markup: str) -> ET.Element:
    assert "style=" not in markup and "<script" not in markup
    return ET.fromstring(markup)


def test_stacked_bars_label_every_bar_and_escape_text() -> None:
    svg = _parse(charts.stacked_bars(
        chart_id="c 1", title="Bookings <per day>", desc="By channel & day", categories=["25/02", "26/02"],
        series=[charts.Series("IVR", [2, 0]), charts.Series("Operators", [1, 3], "#123456")],
        x_label="Day", y_label="Bookings", number=lambda v: f"n{v:g}"))
    assert svg.attrib["id"] == "c-1" and svg.attrib["aria-labelledby"] == "c-1-title c-1-desc"
    assert svg.findtext(f"{SVG}title") == "Bookings <per day>"
    assert svg.findtext(f"{SVG}desc") == "By channel & day"
    bars = [(r.findtext(f"{SVG}title"), r.attrib["fill"]) for r in svg.iter(f"{SVG}rect")
            if r.find(f"{SVG}title") is not None]
    assert bars == [("IVR, 25/02: n2", charts.PALETTE[0]), ("Operators, 25/02: n1", "#123456"),
                    ("Operators, 26/02: n3", "#123456")]  # a zero draws nothing
    texts = {t.text for t in svg.iter(f"{SVG}text")}
    assert {"Day", "Bookings", "IVR", "Operators", "25/02", "n0", "n3"} <= texts


def test_a_missing_value_breaks_the_line_instead_of_falling_to_zero() -> None:
    svg = _parse(charts.lines(chart_id="u", title="t", desc="d", categories=["a", "b", "c", "d", "e"],
                              series=[charts.Series("Use", [0.5, 0.25, None, 0.75, 1.0])], x_label="x", y_label="y",
                              at_least=1.0))
    assert len(list(svg.iter(f"{SVG}circle"))) == 4
    assert [len(p.attrib["points"].split()) for p in svg.iter(f"{SVG}polyline")] == [2, 2]


def test_an_empty_chart_says_so() -> None:
    svg = _parse(charts.stacked_bars(chart_id="e", title="t", desc="d", categories=["a"], series=[],
                                     x_label="x", y_label="y", empty_text="Nothing"))
    assert "Nothing" in {t.text for t in svg.iter(f"{SVG}text")}
    line = _parse(charts.lines(chart_id="l", title="t", desc="d", categories=[], series=[charts.Series("s", [])],
                               x_label="x", y_label="y", empty_text="Nothing"))
    assert not list(line.iter(f"{SVG}polyline"))


def test_a_long_legend_wraps_and_the_picture_grows() -> None:
    series = [charts.Series(f"A rather long series name {n}", [1]) for n in range(6)]
    short = _parse(charts.stacked_bars(chart_id="s", title="t", desc="d", categories=["a"], series=series[:1],
                                       x_label="x", y_label="y"))
    tall = _parse(charts.stacked_bars(chart_id="t", title="t", desc="d", categories=["a"], series=series,
                                      x_label="x", y_label="y"))
    assert float(tall.attrib["viewBox"].split()[3]) > float(short.attrib["viewBox"].split()[3])


def test_a_year_of_days_shows_a_legible_subset_of_labels() -> None:
    days = [f"d{n}" for n in range(366)]
    svg = _parse(charts.stacked_bars(chart_id="y", title="t", desc="d", categories=days,
                                     series=[charts.Series("s", [1] * 366)], x_label="x", y_label="y"))
    shown = [t.text for t in svg.iter(f"{SVG}text") if (t.text or "").startswith("d")]
    assert 8 <= len(shown) <= 16 and shown[0] == "d0"
