"""Plots kept in git are SVG written reproducibly: the same figure gives the same bytes, with no date in them."""

from __future__ import annotations

from matplotlib.figure import Figure

from fscfnet.utils.plots import save_figure


def _figure() -> Figure:
    fig = Figure(figsize=(3, 2))
    ax = fig.subplots()
    ax.plot([1, 2, 3], [0.1, 0.4, 0.3])
    ax.fill_between([1, 2, 3], [0.0, 0.3, 0.2], [0.2, 0.5, 0.4], alpha=0.2)  # clip paths: ids from a salted hash
    return fig


def test_the_same_svg_twice_is_byte_identical_and_undated(tmp_path):
    a, b = save_figure(_figure(), tmp_path / "a.svg"), save_figure(_figure(), tmp_path / "b.svg")
    text = a.read_text()
    assert text.startswith("<?xml") and a.read_bytes() == b.read_bytes()
    assert "<dc:date>" not in text


def test_a_png_is_still_a_png(tmp_path):
    assert save_figure(_figure(), tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
