# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
# Another Python gets its own venv: make test PYTHON=python3.13 VENV=.venv-3.13
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed-stamp
export DAGSTER_HOME ?= $(CURDIR)/var/dagster_home

.PHONY: install run run-postgres test bench bench-xl soak growth clean

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(INSTALLED)

install: $(INSTALLED)

test: $(INSTALLED)
	$(BIN)/pytest -q

run: $(INSTALLED)
	mkdir -p $(DAGSTER_HOME) var/reports data/inbox
	# storemon run loads data/ through Dagster first (ingest_job, recorded in $(DAGSTER_HOME)).
	$(BIN)/storemon run --dagster-port 3000 --api-port 8000

# The production topology: Dagster's instance storage and the warehouse in PostgreSQL
# (STOREMON_POSTGRES_URL, default postgresql+psycopg2://postgres@127.0.0.1:5432/storemon, created when
# missing), the code server, webserver, daemon and API as separate processes, restarted if they die.
run-postgres: $(INSTALLED)
	mkdir -p var/reports data/inbox
	$(BIN)/storemon run-production --dagster-port 3000 --api-port 8000

# make bench BENCH_ARGS="--sizes S --shards 1,16 --executors in_process,celery --dialects postgresql --no-write"
bench: $(INSTALLED)
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

# Issue 12's table: 140,000 stores, 1 and 16 shards, on each executor (celery: the machine's RabbitMQ,
# STOREMON_WORKERS workers started by the benchmark). Long, and the whole machine's: run it alone.
bench-xl: $(INSTALLED)
	$(BIN)/python benchmarks/run.py --sizes XL --dialects postgresql --shards 1,16 \
		--executors in_process,multiprocess,celery --workers $${STOREMON_WORKERS:-2} --runs 1 \
		--json benchmarks/xl.json --no-write

# 30 simulated days of hourly drops at 1,000 stores with the retention schedule daily (about 30 min;
# keep-reports 7d so the level shows within the month). benchmarks/results.md, "Retention".
soak: $(INSTALLED)
	nice -n 10 $(BIN)/python benchmarks/soak.py --days 30 --stores 1000 --keep-segments 48h --keep-reports 7d --no-ingest-runs

# A day of hourly reports at 14,000 stores, per component, on SQLite and PostgreSQL; the steady state with retention.
growth: $(INSTALLED)
	nice -n 10 $(BIN)/python benchmarks/growth.py

clean:
	rm -rf var .pytest_cache
