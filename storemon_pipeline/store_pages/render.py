"""The HTML of the store pages: small pure functions from the core's structures to one string.

No template engine and nothing from another host (no CDN, font or script): the API serves
every byte, so the page works offline and `Content-Security-Policy: default-src 'none'` holds.
Accessibility basics are part of the shape, not an add-on: headings in order, a skip link,
labelled controls, tables with captions and header cells holding what the drawing shows,
and text colours of at least 4.5:1 on white.
"""

from __future__ import annotations

from html import escape

import pandas as pd

from storemon_pipeline.core.clock import EVIDENCE_SPAN_US, US_PER_S, WINDOW_SPANS_US, iso_utc, partition_key
from storemon_pipeline.core.report import WINDOW_UNIT_US
from storemon_pipeline.core.timeline import StoreTimeline, TimelineLayout, TIMELINE_STATUSES
from storemon_pipeline.store_pages.local_time import duration_text, local_text
from storemon_pipeline.store_pages.paths import AS_OF_PARAMETER, store_page_path, store_timeline_path
from storemon_pipeline.store_pages.week_svg import STATUS_COLOUR, STATUS_FILL, week_svg

# A <select> of every hourly report for a year would be 8,760 options: the newest ones are what people pick.
AS_OF_CHOICES = 500
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'"

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;color:#24292f;background:#fff;margin:0 auto;
  max-width:1100px;padding:0 16px 48px;line-height:1.45}
a{color:#0550ae}a:focus,select:focus,button:focus,summary:focus{outline:3px solid #0969da;outline-offset:2px}
.skip{position:absolute;left:-9999px}.skip:focus{left:16px;top:8px;background:#fff;padding:4px 8px}
h1{font-size:1.6rem;margin:16px 0 4px}h2{font-size:1.2rem;margin:28px 0 8px}
nav{margin-top:12px;font-size:.95rem}
table{border-collapse:collapse;margin:8px 0;font-variant-numeric:tabular-nums}
caption{text-align:left;font-weight:600;padding:4px 0;color:#24292f;white-space:nowrap}
th,td{border:1px solid #d0d7de;padding:4px 10px;text-align:left}td.num{text-align:right}
thead th{background:#f6f8fa}
.note{border-left:4px solid #9a6700;background:#fff8c5;padding:8px 12px;margin:12px 0}
.scroll{overflow-x:auto}
.legend{display:flex;flex-wrap:wrap;gap:6px 18px;padding:0;margin:8px 0;list-style:none;font-size:.92rem}
.legend svg{vertical-align:middle;margin-right:6px}
.muted{color:#57606a}
form{margin:10px 0}select,button{font-size:1rem;padding:3px 6px}
"""


def _document(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>{body}</body></html>"
    )


def _as_of_form(action: str, as_of_keys: list[str], selected: str) -> str:
    keys = as_of_keys[:AS_OF_CHOICES]
    if selected not in keys:
        keys = [selected, *keys]
    options = "".join(
        f'<option value="{escape(k)}"{" selected" if k == selected else ""}>{escape(k)}</option>' for k in keys
    )
    more = (
        f' <span class="muted">(the newest {AS_OF_CHOICES} of {len(as_of_keys)} reports)</span>'
        if len(as_of_keys) > AS_OF_CHOICES
        else ""
    )
    return (
        f'<form method="get" action="{escape(action)}"><label for="as-of">Report as of (UTC)</label> '
        f'<select id="as-of" name="{AS_OF_PARAMETER}">{options}</select> <button type="submit">Show</button>{more}</form>'
    )


def _unit(window: str) -> str:
    return "min" if WINDOW_UNIT_US[window] == 60 * US_PER_S else "h"


def _report_table(report: dict) -> str:
    rows = "".join(
        f'<tr><th scope="row">last {window}</th>'
        f'<td class="num">{float(report[f"uptime_last_{window}"]):.2f} {_unit(window)}</td>'
        f'<td class="num">{float(report[f"downtime_last_{window}"]):.2f} {_unit(window)}</td></tr>'
        for window in WINDOW_SPANS_US
    )
    return (
        "<table><caption>Uptime and downtime within business hours</caption><thead><tr>"
        '<th scope="col">window</th><th scope="col">uptime</th><th scope="col">downtime</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )


def _swatch(fill: str, hatch: bool = False) -> str:
    pattern = (
        '<defs><pattern id="legend-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#8C959F"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#FFFFFF" stroke-width="2"/></pattern></defs>'
        if hatch
        else ""
    )
    paint = "url(#legend-hatch)" if hatch else fill
    return f'<svg width="22" height="14" aria-hidden="true">{pattern}<rect width="22" height="14" fill="{paint}" stroke="#8C959F"/></svg>'


def _marker(up: bool, filled: bool, colour: str) -> str:
    points = "2,12 14,12 8,2" if up else "2,2 14,2 8,12"
    return (
        f'<svg width="16" height="14" aria-hidden="true"><polygon points="{points}" '
        f'fill="{colour if filled else "#FFFFFF"}" stroke="{colour}" stroke-width="1.5"/></svg>'
    )


def _legend() -> str:
    active, inactive, unknown = TIMELINE_STATUSES
    items = [
        (_swatch("#CFE3F7"), "business hours"),
        (_swatch("#F6F8FA"), "closed"),
        (_swatch(STATUS_FILL[active]), f"{active}"),
        (_swatch(STATUS_FILL[inactive]), f"{inactive}"),
        (_swatch("", hatch=True), f"{unknown} (no evidence: counted as down)"),
        (_marker(True, True, STATUS_COLOUR[active]), "ping active, evidence"),
        (_marker(False, True, STATUS_COLOUR[inactive]), "ping inactive, evidence"),
        (_marker(True, False, STATUS_COLOUR[active]), "ping while closed (not evidence)"),
    ]
    return '<ul class="legend" aria-label="legend">' + "".join(f"<li>{s}{escape(t)}</li>" for s, t in items) + "</ul>"


def _time(instant_us: int, zone: str) -> str:
    return f'<time datetime="{iso_utc(instant_us)}">{escape(local_text(instant_us, zone))}</time>'


def _segments_table(timeline: StoreTimeline) -> str:
    zone = timeline.timezone
    rows = "".join(
        f"<tr><td>{_time(int(s.start_us), zone)}</td><td>{_time(int(s.end_us), zone)}</td>"
        f'<td>{escape(str(s.status))}</td><td class="num">{duration_text(int(s.end_us) - int(s.start_us))}</td></tr>'
        for s in timeline.segments.itertuples(index=False)
    )
    totals = timeline.week_us_by_status()
    foot = "".join(
        f'<tr><th scope="row" colspan="3">{status} in the week</th><td class="num">{duration_text(totals[status])}</td></tr>'
        for status in TIMELINE_STATUSES
    )
    if not rows:
        rows = '<tr><td colspan="4">No business time in the report week.</td></tr>'
    return (
        f"<table><caption>Status during business hours, {escape(zone)} time</caption><thead><tr>"
        '<th scope="col">from</th><th scope="col">to</th><th scope="col">status</th><th scope="col">length</th>'
        f"</tr></thead><tbody>{rows}</tbody><tfoot>{foot}</tfoot></table>"
    )


def _pings_section(timeline: StoreTimeline) -> str:
    pings = timeline.pings
    n_evidence = int(pings["evidence"].sum())
    zone = timeline.timezone
    rows = "".join(
        f"<tr><td>{_time(int(p.ts_us), zone)}</td><td>{escape(str(p.status))}</td>"
        f"<td>{'yes' if p.evidence else 'no (outside business hours)'}</td></tr>"
        for p in pings.itertuples(index=False)
    )
    summary = (
        f"<p>{len(pings)} pings from {_time(timeline.as_of_us - EVIDENCE_SPAN_US, zone)} (eight days before "
        f"the as-of) to the as-of; {n_evidence} taken during business hours count as evidence. Every business "
        "instant takes the status of the nearest evidence ping.</p>"
    )
    if pings.empty:
        return summary
    return (
        f"{summary}<details><summary>The {len(pings)} pings</summary><table><caption>Pings, {escape(zone)} time"
        '</caption><thead><tr><th scope="col">when</th><th scope="col">status</th><th scope="col">evidence</th></tr>'
        f"</thead><tbody>{rows}</tbody></table></details>"
    )


def store_page_html(timeline: StoreTimeline, layout: TimelineLayout, as_of_keys: list[str]) -> str:
    """The store page: report row, the week drawn on day rows, then the same data as tables."""
    key = partition_key(timeline.as_of_us)
    store = escape(timeline.store_id)
    notes = "".join(f'<p class="note" role="note">{escape(note)}</p>' for note in timeline.notes)
    uptime, downtime = timeline.week_hours()
    body = (
        '<a class="skip" href="#week">Skip to the week</a><header>'
        f'<nav aria-label="storemon"><a href="/">Worst stores</a> · '
        f'<a href="{escape(store_timeline_path(timeline.store_id, key))}">this timeline as JSON</a></nav>'
        f"<h1>Store <code>{store}</code></h1>"
        f"{_as_of_form(store_page_path(timeline.store_id), as_of_keys, key)}"
        f"<p>Times are the store's local time, <strong>{escape(timeline.timezone)}</strong>. The report week runs "
        f"from {_time(timeline.week_start_us, timeline.timezone)} to {_time(timeline.as_of_us, timeline.timezone)} "
        f"(the as-of, {escape(key)}).</p></header><main>"
        f'<section aria-labelledby="report-h"><h2 id="report-h">Report as of {escape(key)}</h2>'
        f"{_report_table(timeline.report)}</section>{notes}"
        f'<section id="week" aria-labelledby="week-h"><h2 id="week-h">The week, one row per local date</h2>'
        f"{_legend()}<div class=\"scroll\">{week_svg(timeline, layout)}</div>"
        f"<p>The segments add up to {uptime:.2f} h up and {downtime:.2f} h down in the week, the report's "
        "uptime and downtime of the last week.</p></section>"
        f'<section aria-labelledby="segments-h"><h2 id="segments-h">Segments</h2>{_segments_table(timeline)}</section>'
        f'<section aria-labelledby="pings-h"><h2 id="pings-h">Pings</h2>{_pings_section(timeline)}</section></main>'
    )
    return _document(f"Store {timeline.store_id} as of {key} · storemon", body)


def index_html(as_of_key: str, worst: pd.DataFrame, n_stores: int, as_of_keys: list[str]) -> str:
    """The API's root: a report's worst stores, each a link to its page."""
    rows = "".join(
        f'<tr><td><a href="{escape(store_page_path(r.store_id, as_of_key))}">{escape(r.store_id)}</a></td>'
        f'<td class="num">{r.downtime_last_week:.2f}</td><td class="num">{r.downtime_last_day:.2f}</td>'
        f'<td class="num">{r.downtime_last_hour:.2f}</td><td class="num">{r.uptime_last_week:.2f}</td></tr>'
        for r in worst.itertuples(index=False)
    )
    body = (
        '<header><nav aria-label="storemon"><a href="/docs">API docs</a></nav>'
        f"<h1>storemon: the worst stores as of {escape(as_of_key)}</h1>"
        f'{_as_of_form("/", as_of_keys, as_of_key)}</header><main>'
        f"<p>The {len(worst)} stores with the most downtime in business hours last week, of {n_stores} in the "
        "report. Each links to its week.</p>"
        f"<table><caption>Worst stores as of {escape(as_of_key)}</caption><thead><tr>"
        '<th scope="col">store</th><th scope="col">downtime last week (h)</th><th scope="col">downtime last day (h)'
        '</th><th scope="col">downtime last hour (min)</th><th scope="col">uptime last week (h)</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></main>"
    )
    return _document(f"storemon: worst stores as of {as_of_key}", body)


def message_html(title: str, message: str) -> str:
    """An error or an empty state: the one-line message, and the way back."""
    body = (
        f'<header><nav aria-label="storemon"><a href="/">Worst stores</a></nav><h1>{escape(title)}</h1></header>'
        f"<main><p>{escape(message)}</p></main>"
    )
    return _document(f"{title} · storemon", body)
