"""The celery app storemon's workers run: dagster-celery's own, configured from storemon's environment.

`celery -A storemon_pipeline.celery_app worker` (celery_workers.py builds the command). The task
is dagster-celery's `execute_plan` (it loads the run's job from its code location, opens the
run's Dagster instance and executes the one step it is given); the app is made by dagster-celery's
make_app with the broker and backend the celery executor is configured with (execution.py), so
the two cannot disagree. dagster-celery's own `dagster_celery.app` would read them from a config
file written under DAGSTER_HOME instead.

The code location is imported here, once, in the worker's parent process: its pool children fork
from it with pandas, Dagster and the definitions already loaded, rather than importing them per task.
"""

from dagster_celery.executor import CeleryExecutor
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

import storemon_pipeline.definitions  # noqa: F401  (preloaded for the pool's children, see above)
from storemon_pipeline.execution import broker_url, result_backend

app = make_app(CeleryExecutor.for_cli(broker=broker_url(), backend=result_backend()).app_args())

execute_plan = create_task(app)
