"""The few GraphQL calls the API makes against the running Dagster webserver.

Job, partition-set and tag names come from the code location's own definitions: the API
launches and recognises exactly what the code location defines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from dagster import Failure

from storemon_pipeline.api.errors import DagsterError, DagsterUnavailable, one_line
from storemon_pipeline.jobs import REPORT_JOBS, ingest_and_report_job
from storemon_pipeline.partitions import report_partitions
from storemon_pipeline.runs import PARTITION_TAG

# The job a trigger launches; a run of any of REPORT_JOB_NAMES is a report run.
REPORT_JOB = ingest_and_report_job.name
REPORT_JOB_NAMES = tuple(job.name for job in REPORT_JOBS)


_WORKSPACE_QUERY = """
query StoremonWorkspace {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on RepositoryLocation { repositories { name jobs { name } } }
          ... on PythonError { message }
        }
      }
    }
    ... on PythonError { message }
  }
}
"""

_ADD_PARTITION_MUTATION = """
mutation StoremonAddPartition($repositorySelector: RepositorySelector!, $partitionsDefName: String!,
                              $partitionKey: String!) {
  addDynamicPartition(repositorySelector: $repositorySelector, partitionsDefName: $partitionsDefName,
                      partitionKey: $partitionKey) {
    __typename
    ... on Error { message }
  }
}
"""

_LAUNCH_MUTATION = """
mutation StoremonLaunchReport($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on Error { message }
  }
}
"""

_RUNS_QUERY = """
query StoremonRuns($filter: RunsFilter!) {
  runsOrError(filter: $filter, limit: 20) {
    __typename
    ... on Runs { results { runId status jobName } }
    ... on Error { message }
  }
}
"""

_RUN_QUERY = """
query StoremonRun($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { runId status jobName tags { key value } }
    ... on Error { message }
  }
}
"""

_RUN_FAILURE_QUERY = """
query StoremonRunFailure($runId: ID!) {
  logsForRun(runId: $runId) {
    __typename
    ... on EventConnection {
      events {
        __typename
        ... on ExecutionStepFailureEvent { stepKey message error { ...ErrorChain } }
        ... on RunFailureEvent { message error { ...ErrorChain } }
      }
    }
    ... on Error { message }
  }
}

fragment ErrorChain on PythonError {
  message
  cause { message cause { message cause { message } } }
}
"""

_DAEMONS_QUERY = """
query StoremonDaemons {
  instance { daemonHealth { allDaemonStatuses { daemonType required healthy } } }
}
"""


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    status: str
    job_name: str
    tags: dict[str, str]


class DagsterClient:
    """The few GraphQL calls the API needs, against a running `dagster dev` / webserver."""

    def __init__(self, url: str, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout_s)
        self._repository: dict[str, str] | None = None

    def close(self) -> None:
        self._http.close()

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            answer = self._http.post("/graphql", json={"query": query, "variables": variables or {}})
        except httpx.TransportError as error:
            raise DagsterUnavailable(
                f"Dagster webserver unreachable at {self.url}: {one_line(str(error) or type(error).__name__)}"
            ) from None
        if answer.status_code != 200:
            raise DagsterUnavailable(f"Dagster webserver at {self.url} answered HTTP {answer.status_code}")
        try:
            body = answer.json()
        except ValueError:
            raise DagsterError(f"Dagster webserver at {self.url} answered something that is not JSON") from None
        if body.get("errors"):
            raise DagsterError(f"Dagster GraphQL error: {one_line(body['errors'][0].get('message', body['errors']))}")
        return body["data"]

    # -- where ingest_and_report_job lives ---------------------------------------------------------

    def report_repository(self) -> dict[str, str]:
        """{repositoryLocationName, repositoryName} of the repository holding ingest_and_report_job (cached)."""
        if self._repository is None:
            self._repository = self._find_report_repository()
        return self._repository

    def _find_report_repository(self) -> dict[str, str]:
        workspace = self.graphql(_WORKSPACE_QUERY)["workspaceOrError"]
        if workspace["__typename"] != "Workspace":
            raise DagsterError(f"Dagster workspace error: {one_line(workspace.get('message', ''))}")
        problems = []
        for entry in workspace["locationEntries"]:
            location = entry.get("locationOrLoadError") or {}
            if location.get("__typename") == "RepositoryLocation":
                for repository in location["repositories"]:
                    if any(job["name"] == REPORT_JOB for job in repository["jobs"]):
                        return {"repositoryLocationName": entry["name"], "repositoryName": repository["name"]}
            elif location.get("__typename") == "PythonError":
                problems.append(f"code location {entry['name']} failed to load: {one_line(location['message'])}")
            else:
                problems.append(f"code location {entry['name']} is {entry['loadStatus'].lower()}")
        detail = "; ".join(problems) or "no code location defines it"
        raise DagsterUnavailable(f"Dagster at {self.url} has no {REPORT_JOB}: {detail}")

    # -- runs ----------------------------------------------------------------------------

    def add_report_partition(self, key: str) -> None:
        result = self.graphql(
            _ADD_PARTITION_MUTATION,
            {"repositorySelector": self.report_repository(), "partitionsDefName": report_partitions.name,
             "partitionKey": key},
        )["addDynamicPartition"]
        # A key added before (by the schedule, the sensor or an earlier trigger) is what we want.
        if result["__typename"] not in ("AddDynamicPartitionSuccess", "DuplicateDynamicPartitionError"):
            raise DagsterError(f"adding report partition {key} failed: {one_line(result.get('message', result))}")

    def launch_report_run(
        self, key: str, *, run_config: dict | None = None, tags: dict[str, str] | None = None,
        asset_selection: list[list[str]] | None = None,
    ) -> str:
        selector = {**self.report_repository(), "jobName": REPORT_JOB}
        if asset_selection is not None:
            selector["assetSelection"] = [{"path": path} for path in asset_selection]
        all_tags = {PARTITION_TAG: key, **(tags or {})}
        params = {
            "selector": selector,
            "runConfigData": run_config or {},
            "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in all_tags.items()]},
        }
        result = self.graphql(_LAUNCH_MUTATION, {"executionParams": params})["launchRun"]
        if result["__typename"] == "LaunchRunSuccess":
            return result["run"]["runId"]
        if result["__typename"] == "PipelineNotFoundError":
            self._repository = None  # the code location was reloaded or renamed: look again next time
        reason = result.get("message") or "; ".join(e["message"] for e in result.get("errors", []))
        raise DagsterError(f"Dagster refused to launch {REPORT_JOB} for {key}: {one_line(reason or result['__typename'])}")

    def newest_report_run(self, key: str, statuses: tuple[str, ...]) -> str | None:
        """The newest run of a report job (REPORT_JOB_NAMES) for partition `key` in one of `statuses`, else None."""
        result = self.graphql(
            _RUNS_QUERY,
            {"filter": {"tags": [{"key": PARTITION_TAG, "value": key}], "statuses": list(statuses)}},
        )["runsOrError"]
        if result["__typename"] != "Runs":
            raise DagsterError(f"listing report runs failed: {one_line(result.get('message', ''))}")
        # Newest first; any partitioned run of another job (none today) is not a report.
        return next((run["runId"] for run in result["results"] if run["jobName"] in REPORT_JOB_NAMES), None)

    def run(self, run_id: str) -> RunInfo | None:
        result = self.graphql(_RUN_QUERY, {"runId": run_id})["runOrError"]
        if result["__typename"] == "RunNotFoundError":
            return None
        if result["__typename"] != "Run":
            raise DagsterError(f"reading run {run_id} failed: {one_line(result.get('message', ''))}")
        tags = {tag["key"]: tag["value"] for tag in result["tags"]}
        return RunInfo(result["runId"], result["status"], result["jobName"], tags)

    def failure_reason(self, run_id: str) -> str:
        """The first failed step's error (else the run failure message), one line, no stack."""
        result = self.graphql(_RUN_FAILURE_QUERY, {"runId": run_id})["logsForRun"]
        if result["__typename"] != "EventConnection":
            return "the report run failed"
        events = result["events"]
        for event in events:
            if event["__typename"] == "ExecutionStepFailureEvent":
                return one_line(f"step {event['stepKey']} failed: {_root_cause(event.get('error'), event['message'])}")
        for event in events:
            if event["__typename"] == "RunFailureEvent":
                return one_line(_root_cause(event.get("error"), event["message"]))
        return "the report run failed"

    def daemon_health(self) -> dict[str, bool | None]:
        statuses = self.graphql(_DAEMONS_QUERY)["instance"]["daemonHealth"]["allDaemonStatuses"]
        return {s["daemonType"]: s["healthy"] for s in statuses if s["required"]}


def _root_cause(error: dict | None, fallback: str) -> str:
    """The innermost error's message ("FileExistsError: ..."), not Dagster's "Error occurred while executing"."""
    message = fallback
    while error:
        message = error.get("message") or message
        error = error.get("cause")
    # A step's own refusal (dagster Failure) is already one line for a person: drop the class path.
    return message.strip().removeprefix(f"{Failure.__module__}.{Failure.__name__}: ")

