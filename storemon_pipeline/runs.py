"""How storemon's runs are told apart: the tags they carry and the statuses that count as in flight.

Defined once here and imported by the jobs, the sensors, the schedule, the instance settings and
the HTTP API, so that the API's "Running" and the sensors' "busy" can never disagree.
"""

from dagster import DagsterRunStatus

# Jobs without a report partition (jobs.py): retention prunes their old runs by age, so it reads their names.
INGEST_JOB_NAME = "ingest_job"
RETENTION_JOB_NAME = "retention_job"

# Dagster's own tag on every run of a partitioned job: the report partition's key.
PARTITION_TAG = "dagster/partition"
# Who asked for a run: "api", "inbox_sensor", "hourly_report_schedule", "request_report_job".
TRIGGER_TAG = "storemon/trigger"
# The report key a run is for, also on runs that are not partitioned (request_report_job).
REPORT_KEY_TAG = "storemon/report_key"
# The files an inbox ingest run loads (names, cut to 200 characters).
FILES_TAG = "storemon/files"
# The request_report_job run a report run was launched for.
REQUEST_RUN_TAG = "storemon/request_run"
# On every run of a job that loads files (ingest_job, ingest_and_report_job): the run queue lets
# one such run at a time, so two ingests never race for the same new file.
INGESTS_TAG = "storemon/ingests"
INGESTS_TAG_VALUE = "true"
# Dagster's tag saying how a retried run re-executes. ALL_STEPS: a report run killed half way
# is recomputed whole (every stage is idempotent per partition), not stitched from the dead
# run's outputs.
RETRY_STRATEGY_TAG = "dagster/retry_strategy"
RETRY_ALL_STEPS = "ALL_STEPS"

# Not over yet: every status but the three a run ends in. Derived, not listed, so a status
# Dagster adds later counts as in flight rather than as done.
FINISHED_STATUSES = (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)
IN_FLIGHT_STATUSES = tuple(status for status in DagsterRunStatus if status not in FINISHED_STATUSES)
# In flight and going to produce a report: a run being cancelled will not, so a new trigger
# launches a new run instead of returning that one.
WILL_REPORT_STATUSES = tuple(status for status in IN_FLIGHT_STATUSES if status != DagsterRunStatus.CANCELING)
