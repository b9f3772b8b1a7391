# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
# Another Python gets its own venv: make test PYTHON=python3.13 VENV=.venv-3.13
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed-stamp
export DAGSTER_HOME ?= $(CURDIR)/var/dagster_home

.PHONY: install run test bench bench-xl clean

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

# make bench BENCH_ARGS="--sizes S --shards 1,16 --executors in_process,celery --dialects postgresql --no-write"
bench: $(INSTALLED)
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

# Issue 12's table: 140,000 stores, 1 and 16 shards, on each executor (celery: the machine's RabbitMQ,
# STOREMON_WORKERS workers started by the benchmark). Long, and the whole machine's: run it alone.
bench-xl: $(INSTALLED)
	$(BIN)/python benchmarks/run.py --sizes XL --dialects postgresql --shards 1,16 \
		--executors in_process,multiprocess,celery --workers $${STOREMON_WORKERS:-2} --runs 1 \
		--json benchmarks/xl.json --no-write

clean:
	rm -rf var .pytest_cache
