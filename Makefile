# Each target installs what it needs first (scripts/setup.sh is idempotent).
PY ?= python3
OUT ?= out/demo

.PHONY: setup demo test test-slow clean

setup:
	@bash scripts/setup.sh

demo: setup
	spikeforge demo --out $(OUT)

test: setup
	$(PY) -m pytest -m "not slow" -q

test-slow: setup
	$(PY) -m pytest -m slow -q

clean:
	rm -rf out .setup-stamp .pytest_cache .hypothesis
