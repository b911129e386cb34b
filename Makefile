# resell: the two commands a newcomer needs are `make run` and `make test`.
# Both create .venv and install the pinned dependencies on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench bench-backoffice bench-backoffice-pages chaos fuzz lint typecheck translations clean

$(STAMP): pyproject.toml clients/python/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet -e clients/python
	touch $(STAMP)

## Migrate the database, seed the demo catalogue if empty, serve on RESELL_HOST:RESELL_PORT.
run: $(STAMP)
	$(BIN)/resell db upgrade
	$(BIN)/resell demo
	$(BIN)/resell serve

# axe-core, the accessibility check the browser tests run in the pages: pinned in tests/package-lock.json.
AXE := tests/node_modules/axe-core/axe.min.js
$(AXE): tests/package.json tests/package-lock.json
	npm ci --prefix tests --no-audit --no-fund
	touch $(AXE)

## The whole test suite (SQLite; PostgreSQL too when RESELL_TEST_DATABASE_URL is set).
test: $(STAMP)
	scripts/system-deps
	$(MAKE) $(AXE)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## The benchmark: BENCH_ARGS="--db postgres", "--seconds 4 --concurrency 32" ... (see bench/run.py)
bench: $(STAMP)
	scripts/system-deps --bench
	$(BIN)/python bench/run.py $(BENCH_ARGS)

## The back office at 1M orders: BENCH_ARGS="--db postgres", "--orders 20000" ... (see bench/backoffice.py)
bench-backoffice: $(STAMP)
	$(BIN)/python bench/backoffice.py run $(BENCH_ARGS)

## The /admin pages through `resell serve` on the generated database (bench/backoffice.py pages).
bench-backoffice-pages: $(STAMP)
	$(BIN)/python bench/backoffice.py pages $(BENCH_ARGS)

## Crash and race suite: SIGKILLs API and worker under load, then checks every invariant (chaos/run.py).
chaos: $(STAMP)
	$(BIN)/python chaos/run.py $(CHAOS_ARGS)

## Fuzz suite: the property tests with the thorough Hypothesis profile, then schemathesis against the
## served OpenAPI document, every /connect and /iam operation.
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=thorough $(BIN)/python -m pytest -q -p no:cacheprovider tests/domain tests/api/rest/test_bad_input.py
	$(BIN)/python fuzz/run.py $(FUZZ_ARGS)

## ruff, then the layering contracts of pyproject.toml ([tool.importlinter], docs/architecture.md).
lint: $(STAMP)
	$(BIN)/ruff check resell tests bench chaos fuzz clients
	$(BIN)/lint-imports --no-logo

## bench/ and fuzz/ are script directories, each with its own run.py: one mypy run each; the SDK
## (clients/python, a distribution of its own) is checked strict.
typecheck: $(STAMP)
	$(BIN)/mypy resell chaos
	$(BIN)/mypy bench
	$(BIN)/mypy fuzz
	$(BIN)/mypy --strict clients/python/src
	$(BIN)/mypy clients/python/examples

## Extract the end users' sentences (babel.cfg) into resell/locale/messages.pot and add the new ones to
## every resell/locale/<lang>/LC_MESSAGES/messages.po; translators then edit the .po files only (no .mo:
## resell.i18n compiles each .po when first used). docs/fulfilment.md, "Translating".
translations: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg --no-location --sort-output --project resell --version 0.1.0 \
		--copyright-holder resell --msgid-bugs-address support@resell.invalid -o resell/locale/messages.pot .
	$(BIN)/pybabel update -i resell/locale/messages.pot -d resell/locale --width 100 --ignore-pot-creation-date

clean:
	rm -rf $(VENV) var .pytest_cache
