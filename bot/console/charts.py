"""Small inline SVG charts for the usage page: no script, no image request, scaled by the browser
to the screen (a phone included). Every bar or point carries a <title> with its day and value, so
a tap or a hover shows the figure; the page also lists the figures in a table."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from html import escape

from markupsafe import Markup

__all__ = ["bar_chart", "line_chart"]

_W, _H = 400, 150  # the viewBox; the SVG itself is 100% wide
_LEFT, _BOTTOM, _TOP = 36, 18, 10


def _frame(top_label: str, first: date, last: date, body: str, label: str) -> Markup:
    plot_bottom = _H - _BOTTOM
    return Markup(
        f'<svg class="chart" viewBox="0 0 {_W} {_H}" role="img" aria-label="{escape(label)}" '
        f'xmlns="http://www.w3.org/2000/svg">'
        f'<line x1="{_LEFT}" y1="{plot_bottom}" x2="{_W}" y2="{plot_bottom}" class="axis"/>'
        f'<line x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" y2="{plot_bottom}" class="axis"/>'
        f'<text x="{_LEFT - 4}" y="{_TOP + 8}" text-anchor="end">{escape(top_label)}</text>'
        f'<text x="{_LEFT - 4}" y="{plot_bottom}" text-anchor="end">0</text>'
        f'<text x="{_LEFT}" y="{_H - 4}">{first.isoformat()}</text>'
        f'<text x="{_W}" y="{_H - 4}" text-anchor="end">{last.isoformat()}</text>'
        f"{body}</svg>"
    )


def _scale(values: Sequence[float | None], fixed_max: float | None) -> float:
    top = fixed_max if fixed_max is not None else max((v for v in values if v is not None), default=0.0)
    return top if top > 0 else 1.0


def bar_chart(
    days: Sequence[date], values: Sequence[float], *, label: str, fmt: Callable[[float], str] = str
) -> Markup:
    top = _scale(values, None)
    width = (_W - _LEFT) / max(len(days), 1)
    height = _H - _BOTTOM - _TOP
    bars = []
    for i, (day, value) in enumerate(zip(days, values, strict=True)):
        h = height * value / top
        x = _LEFT + i * width
        bars.append(
            f'<rect x="{x + width * 0.1:.1f}" y="{_H - _BOTTOM - h:.1f}" width="{width * 0.8:.1f}" '
            f'height="{h:.1f}"><title>{day.isoformat()}: {escape(fmt(value))}</title></rect>'
        )
    return _frame(fmt(top), days[0], days[-1], "".join(bars), label) if days else Markup("")


def line_chart(
    days: Sequence[date],
    values: Sequence[float | None],
    *,
    label: str,
    fmt: Callable[[float], str] = str,
    fixed_max: float | None = None,
) -> Markup:
    """A line through the days that have a value; a day without one (no votes, no questions)
    breaks the line rather than pretending to be zero."""
    top = _scale(values, fixed_max)
    step = (_W - _LEFT) / max(len(days), 1)
    height = _H - _BOTTOM - _TOP
    segments: list[list[str]] = [[]]
    dots = []
    for i, (day, value) in enumerate(zip(days, values, strict=True)):
        if value is None:
            segments.append([])
            continue
        x, y = _LEFT + (i + 0.5) * step, _H - _BOTTOM - height * value / top
        segments[-1].append(f"{x:.1f},{y:.1f}")
        dots.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3"><title>{day.isoformat()}: {escape(fmt(value))}</title></circle>'
        )
    lines = "".join(f'<polyline points="{" ".join(s)}"/>' for s in segments if len(s) > 1)
    return _frame(fmt(top), days[0], days[-1], lines + "".join(dots), label) if days else Markup("")
