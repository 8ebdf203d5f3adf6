# mmalfm — the two quick-start commands and a few helpers.
#
#   make demo      set up .venv, then on CPU: demo data -> proposals -> pretrain (ALFM, BYOL) -> export
#                  -> fine-tune a detector on 25 % of the labels (and from random init) -> report
#   make demo-all  the same for every method (ALFM, SoCo, CrossCL, DUPR, BYOL)
#   make test      set up .venv, run the test suite
#
# `make setup` alone builds the environment (see tools/setup_env.sh). The demo
# is resumable (run it again after an interruption); its report lands in
# $(DEMO_DIR)/report.md. Extra options: make demo DEMO_ARGS='--label-fraction 0.1'.

SHELL      := /bin/bash
PYTHON     := .venv/bin/python
DEMO_DATA  ?= data/demo
DEMO_DIR   ?= work_dirs/demo
DEMO_METHODS ?= alfm
DEMO_ALL_METHODS := alfm soco crosscl dupr byol
DEMO_ARGS  ?=
PYTEST_ARGS ?=
TEST_WORKERS ?= auto

.PHONY: help setup demo demo-all demo-data test clean

help:
	@sed -n '1,12p' Makefile

setup:
	@bash tools/setup_env.sh

demo-data: setup
	@$(PYTHON) tools/data/make_demo_data.py $(DEMO_DATA)

# tools/demo/run_demo.py generates the data itself (kept when present), so a
# re-run skips every finished stage; see docs/user_guides/demo.md.
demo: setup
	@$(PYTHON) tools/demo/run_demo.py --methods $(DEMO_METHODS) --work-dir $(DEMO_DIR) --data $(DEMO_DATA) $(DEMO_ARGS)

demo-all: setup
	@$(PYTHON) tools/demo/run_demo.py --methods $(DEMO_ALL_METHODS) --work-dir $(DEMO_DIR) --data $(DEMO_DATA) $(DEMO_ARGS)

# pytest exits 5 when it collects nothing: fine for a filtered run
# (`make test PYTEST_ARGS='-k foo'`), a failure for the whole suite.
# One pytest-xdist worker per core (one torch thread each, see
# tests/conftest.py); `make test TEST_WORKERS=0` runs in one process.
test: setup
	@$(PYTHON) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then \
		if [ -n "$(PYTEST_ARGS)" ]; then echo "[test] no test matched PYTEST_ARGS='$(PYTEST_ARGS)'"; exit 0; fi; \
		echo "[test] error: pytest collected no tests at all (exit 5)"; exit 1; \
	fi; exit $$rc

clean:
	rm -rf work_dirs .pytest_cache
