"""The classic report API on top of Dagster: POST /trigger_report, GET /get_report, GET /healthz.

A report_id is the id (a UUID) of the Dagster run of `ingest_and_report_job` that computes
the report. The API keeps no state of its own: it asks Dagster's GraphQL API
(the running webserver) for runs and reads the finished CSV from the reports
folder, so it can be restarted at any time and several copies agree.

    POST /trigger_report            adds the partition for the latest ping and launches its run;
                                    a run already queued or running for that as-of is returned instead
    GET  /get_report?report_id=ID   `Running` | `Failed` + a line with the reason (text/plain) | the CSV
    GET  /get_report/ID             the same
    GET  /healthz                   warehouse and Dagster reachable (200) or not (503)

Classic clients poll with their HTTP library's default `Accept: */*` and read a
text/plain `Running`; a client whose Accept names application/json gets
`{"status": "Running"}` / `{"status": "Failed", "error": ...}` instead. The CSV is
text/csv whatever the Accept. Every error is JSON `{"error": "..."}`; no stack trace
ever leaves the process.

When STOREMON_API_TOKEN is set, /trigger_report and /get_report require the header
`Authorization: Bearer <token>` (401 otherwise; compared in constant time). /healthz
and the OpenAPI docs stay open: they carry no report data, and probes need no secret.

/docs (Swagger UI) loads its script and style from this server, not a CDN, so it
works on a machine without the internet. /redoc is off: ReDoc's page fetches its
maker's logo from the internet.

Four modules: `dagster_client` (the GraphQL calls), `service` (trigger and look up reports),
`app` (the HTTP layer: routes, content negotiation, offline docs), `errors` (what a client sees).
"""

from storemon_pipeline.api.app import create_app, serve, wants_json
from storemon_pipeline.api.dagster_client import DagsterClient
from storemon_pipeline.api.errors import DagsterUnavailable
from storemon_pipeline.api.service import ApiSettings

__all__ = ["ApiSettings", "DagsterClient", "DagsterUnavailable", "create_app", "serve", "wants_json"]
