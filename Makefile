# The two commands of the README: `make demo` and `make test`.
# Both create .venv on first use and install CaseTrail into it.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test faults lint install clean chromium fonts

$(BIN)/casetrail: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/casetrail

## Start local Kafka and PostgreSQL, every service, load the demo petitions; Ctrl-C stops the services.
demo: install fonts
	$(BIN)/casetrail demo

## Lint, type-check, then every test (the tests start Kafka and PostgreSQL if they are not running).
test: lint chromium fonts
	$(BIN)/pytest

## The fault suite alone (part of `make test` too): rebalances, SIGKILLs, hostile records, PostgreSQL
## and Kafka outages, a broker killed in a 3-broker cluster; real processes, loopback only.
faults: install
	$(BIN)/pytest tests/faults -v

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
