# The two commands of the README: `make demo` and `make test`.
# Both create .venv on first use and install CaseTrail into it.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test faults lint install clean chromium fonts vectors

$(BIN)/casetrail: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/casetrail

## Start local Kafka and PostgreSQL, every service, load the demo petitions; Ctrl-C stops the services.
demo: install fonts
	$(BIN)/casetrail demo

## The integrity and privacy tests, which `make test` runs a second time under the guomi suite
## (SM3, SM2, SM4-GCM; the first run is under the default, international).
SUITE_TESTS := $(addprefix tests/unit/test_,hashing.py signing.py sealing.py privacy.py keys.py \
	verify.py verify_audit.py verify_stream.py verify_take_over.py seal_log_migration.py \
	decider_partition.py decider_snapshot.py) \
	tests/integration/test_keystore.py $(addprefix tests/e2e/test_,verify.py forged_tail.py \
	personal_data.py signatures.py old_schema_privacy.py decider_snapshots.py) \
	tests/e2e/test_migration.py::test_a_sealed_log_moves_to_the_other_suite \
	tests/faults/test_hostile_records.py

## Lint, type-check, then every test (the tests start Kafka and PostgreSQL if they are not running),
## then the integrity and privacy tests again under the guomi suite.
test: lint chromium fonts vectors
	$(BIN)/pytest
	CASETRAIL_CRYPTO_SUITE=guomi $(BIN)/pytest $(SUITE_TESTS)

## The fault suite alone (part of `make test` too): rebalances, SIGKILLs, hostile records, PostgreSQL
## and Kafka outages, a broker killed in a 3-broker cluster; real processes, loopback only.
faults: install
	$(BIN)/pytest tests/faults -v

## The independent JavaScript verifiers' SM2, SM3 and SM4 (sm-crypto-v2, pinned by
## tests/vectors/package-lock.json), from npm.
vectors: tests/vectors/node_modules/sm-crypto-v2
tests/vectors/node_modules/sm-crypto-v2: tests/vectors/package-lock.json
	npm ci --no-audit --no-fund --prefix tests/vectors

## The browser test drives Debian's Chromium (no browser download from the internet), with a
## font for Chinese so that its screenshots are readable.
chromium:
	@command -v chromium >/dev/null && fc-list | grep -qi wqy || \
		{ apt-get update -q && apt-get install -y -q chromium fonts-wqy-microhei; }

## The case files (PDF) embed a CJK font: Debian's WenQuanYi Micro Hei (5 MB, free licence), which
## the query service finds where Debian puts it (CASETRAIL_PDF_FONT_FILE names another).
FONT := /usr/share/fonts/truetype/wqy/wqy-microhei.ttc
## Without root (no apt-get) the rest still runs: the case file answers 503 font_unavailable.
fonts:
	@test -f $(FONT) || { test "$$(id -u)" = 0 && apt-get update -q && \
		apt-get install -y -q fonts-wqy-microhei; } || \
		echo "make: no CJK font ($(FONT)) and not root: case files (PDF) will be refused" >&2

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .local .mypy_cache .pytest_cache .ruff_cache
