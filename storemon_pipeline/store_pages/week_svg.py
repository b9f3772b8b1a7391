"""The week drawing of a store page: an inline SVG of day rows (core.timeline.timeline_layout).

Pure string building, nothing fetched: the page must work on a machine without the internet
and show the same on every browser. Colours are the Okabe-Ito palette (told apart with the
common colour-vision deficiencies), and status is never carried by colour alone: unknown is
hatched, a ping's status is its marker's direction (up active, down inactive) and whether it
counts as evidence is filled or hollow. Every shape carries a <title> (hover text); the same
data is in the page's tables for keyboards and screen readers.
"""

from __future__ import annotations

from html import escape

from storemon_pipeline.core.clock import US_PER_HOUR
from storemon_pipeline.core.segments import ACTIVE, INACTIVE, UNKNOWN
from storemon_pipeline.core.timeline import StoreTimeline, TimelineLayout
from storemon_pipeline.store_pages.local_time import duration_text, local_text

STATUS_FILL = {ACTIVE: "#009E73", INACTIVE: "#D55E00", UNKNOWN: "url(#unknown-hatch)"}
STATUS_COLOUR = {ACTIVE: "#007A5A", INACTIVE: "#B34700", UNKNOWN: "#57606A"}
BUSINESS_FILL = "#CFE3F7"
CLOSED_FILL = "#F6F8FA"
GRID_COLOUR = "#D0D7DE"
TEXT_COLOUR = "#24292F"
MUTED_TEXT = "#57606A"

PX_PER_HOUR = 34
LABEL_WIDTH = 112
ROW_HEIGHT = 50
MARKER_Y = 7  # ping markers
BAND_TOP, BAND_HEIGHT = 14, 24  # business hours
BAR_TOP, BAR_HEIGHT = 18, 16  # status segments
HOUR_LABEL_Y = 47
MAX_ROW_HOURS = 25  # the longest local date (autumn)
WIDTH = LABEL_WIDTH + MAX_ROW_HOURS * PX_PER_HOUR + 12

_DEFS = (
    '<defs><pattern id="unknown-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
    'patternTransform="rotate(45)"><rect width="6" height="6" fill="#8C959F"/>'
    '<line x1="0" y1="0" x2="0" y2="6" stroke="#FFFFFF" stroke-width="2"/></pattern>'
    '<pattern id="outside-hatch" width="8" height="8" patternUnits="userSpaceOnUse" '
    'patternTransform="rotate(-45)"><rect width="8" height="8" fill="#FFFFFF"/>'
    '<line x1="0" y1="0" x2="0" y2="8" stroke="#D0D7DE" stroke-width="3"/></pattern></defs>'
)


def _x(offset_us: int) -> float:
    return round(LABEL_WIDTH + offset_us / US_PER_HOUR * PX_PER_HOUR, 2)


def _width(start_us: int, end_us: int) -> float:
    return round(max((end_us - start_us) / US_PER_HOUR * PX_PER_HOUR, 0.6), 2)


def week_svg(timeline: StoreTimeline, layout: TimelineLayout) -> str:
    """The SVG element: one row per local date; shading, segments, pings, hour marks."""
    zone = timeline.timezone
    height = ROW_HEIGHT * len(layout.rows) + 4
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
        f'role="img" aria-labelledby="week-title week-desc" font-family="system-ui, sans-serif">',
        f'<title id="week-title">Store {escape(timeline.store_id)}: the report week in {escape(zone)} local time</title>',
        '<desc id="week-desc">One row per local date. Light blue: business hours. Bars: status during business '
        "hours (green active, orange inactive, hatched grey unknown). Markers above the bars: pings (up active, "
        "down inactive; filled when they count as evidence). Diagonal stripes: outside the report's week. The "
        "tables below the drawing hold the same segments and pings.</desc>",
        _DEFS,
    ]
    for number, row in enumerate(layout.rows):
        top = number * ROW_HEIGHT + 2
        parts.append(f'<g transform="translate(0,{top})">')
        day_hours = row.length_us / US_PER_HOUR
        parts.append(
            f'<text x="0" y="{BAR_TOP + 11}" font-size="13" fill="{TEXT_COLOUR}" font-weight="600">'
            f"{row.local_date.strftime('%a %d %b')}</text>"
        )
        if round(day_hours, 3) != 24:
            parts.append(
                f'<text x="0" y="{BAR_TOP + 26}" font-size="11" fill="{MUTED_TEXT}">{day_hours:g}-hour day</text>'
            )
        parts.append(
            f'<rect x="{_x(0)}" y="{BAND_TOP}" width="{_width(0, row.length_us)}" height="{BAND_HEIGHT}" '
            f'fill="{CLOSED_FILL}" stroke="{GRID_COLOUR}"><title>{escape(row.local_date.isoformat())}: closed '
            "unless shaded</title></rect>"
        )
        week = [piece for piece in layout.week if piece.row == number]
        inside = (week[0].start_offset_us, week[0].end_offset_us) if week else (0, 0)
        for start, end in ((0, inside[0]), (inside[1], row.length_us)):
            if end > start:
                parts.append(
                    f'<rect x="{_x(start)}" y="{BAND_TOP}" width="{_width(start, end)}" height="{BAND_HEIGHT}" '
                    f'fill="url(#outside-hatch)"><title>outside the report week ({escape(local_text(row.start_us + start, zone))}'
                    f" to {escape(local_text(row.start_us + end, zone))})</title></rect>"
                )
        for piece in (p for p in layout.business if p.row == number):
            interval = timeline.business_intervals.iloc[piece.index]
            parts.append(
                f'<rect x="{_x(piece.start_offset_us)}" y="{BAND_TOP}" '
                f'width="{_width(piece.start_offset_us, piece.end_offset_us)}" height="{BAND_HEIGHT}" '
                f'fill="{BUSINESS_FILL}"><title>business hours {escape(local_text(int(interval.start_us), zone))} to '
                f"{escape(local_text(int(interval.end_us), zone))}</title></rect>"
            )
        for mark in row.hour_marks:
            x = _x(mark.offset_us)
            parts.append(
                f'<line x1="{x}" y1="{BAND_TOP}" x2="{x}" y2="{BAND_TOP + BAND_HEIGHT}" stroke="{GRID_COLOUR}" '
                'stroke-width="0.7"/>'
            )
            if mark.wall_hour % 3 == 0:
                parts.append(
                    f'<text x="{x}" y="{HOUR_LABEL_Y}" font-size="10" fill="{MUTED_TEXT}" text-anchor="middle">'
                    f"{mark.wall_hour:02d}</text>"
                )
        for piece in (p for p in layout.segments if p.row == number):
            segment = timeline.segments.iloc[piece.index]
            status = str(segment.status)
            parts.append(
                f'<rect x="{_x(piece.start_offset_us)}" y="{BAR_TOP}" '
                f'width="{_width(piece.start_offset_us, piece.end_offset_us)}" height="{BAR_HEIGHT}" '
                f'fill="{STATUS_FILL[status]}"><title>{status} {escape(local_text(int(segment.start_us), zone))} to '
                f"{escape(local_text(int(segment.end_us), zone))} "
                f"({duration_text(int(segment.end_us) - int(segment.start_us))})</title></rect>"
            )
        for piece in (p for p in layout.pings if p.row == number):
            parts.append(_ping_marker(timeline, piece.index, _x(piece.start_offset_us)))
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def _ping_marker(timeline: StoreTimeline, index: int, x: float) -> str:
    ping = timeline.pings.iloc[index]
    status, evidence = str(ping.status), bool(ping.evidence)
    colour = STATUS_COLOUR[status]
    # Up for active, down for inactive; hollow when the ping was taken while closed.
    if status == ACTIVE:
        points = f"{x - 4},{MARKER_Y + 4} {x + 4},{MARKER_Y + 4} {x},{MARKER_Y - 4}"
    else:
        points = f"{x - 4},{MARKER_Y - 4} {x + 4},{MARKER_Y - 4} {x},{MARKER_Y + 4}"
    fill = colour if evidence else "#FFFFFF"
    what = "evidence" if evidence else "not evidence (outside business hours)"
    tick = (
        f'<line x1="{x}" y1="{MARKER_Y + 4}" x2="{x}" y2="{BAR_TOP + BAR_HEIGHT}" stroke="{TEXT_COLOUR}" '
        'stroke-width="1.2"/>'
        if evidence
        else f'<line x1="{x}" y1="{MARKER_Y + 4}" x2="{x}" y2="{BAND_TOP + 4}" stroke="{MUTED_TEXT}" stroke-width="1"/>'
    )
    return (
        f"<g>{tick}<polygon points=\"{points}\" fill=\"{fill}\" stroke=\"{colour}\" stroke-width=\"1.5\"/>"
        f"<title>ping {status} at {escape(local_text(int(ping.ts_us), timeline.timezone))}: {what}</title></g>"
    )
