"""The errors a client of the API sees, each with its HTTP status, and the one-line form of a message."""

from __future__ import annotations

ERROR_MESSAGE_LIMIT = 2000


class ApiError(Exception):
    status_code = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unauthorized(ApiError):
    status_code = 401


class ReportNotFound(ApiError):
    status_code = 404


class NothingToReport(ApiError):
    """No pings in the warehouse yet: there is no as-of to report on."""

    status_code = 409


class DagsterUnavailable(ApiError):
    """The webserver cannot be reached, or the storemon code location is not loaded."""

    status_code = 503


class WarehouseDown(ApiError):
    status_code = 503


class DagsterError(ApiError):
    """Dagster answered, but with an error (schema mismatch, launch refused)."""

    status_code = 502


def one_line(text: str) -> str:
    """Whitespace folded to single spaces, cut to ERROR_MESSAGE_LIMIT characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= ERROR_MESSAGE_LIMIT else text[: ERROR_MESSAGE_LIMIT - 1] + "…"


