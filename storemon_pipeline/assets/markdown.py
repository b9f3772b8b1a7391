"""Tables for Dagster's markdown metadata (checks and materializations)."""

import pandas as pd

# One length for every list a check or a materialization shows.
LISTED_ROWS = 20


def markdown_table(frame: pd.DataFrame, limit: int = LISTED_ROWS, total: int | None = None) -> str:
    """The first `limit` rows; `total` is the number of cases when `frame` holds only the first ones."""
    if frame.empty:
        return "(none)"
    shown = frame.head(limit)
    lines = ["| " + " | ".join(map(str, shown.columns)) + " |", "|" + " --- |" * len(shown.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in shown.itertuples(index=False)]
    total = len(frame) if total is None else total
    if total > len(shown):
        lines.append(f"\n… and {total - len(shown)} more")
    return "\n".join(lines)
