# mmalfm — the two quick-start commands and a few helpers.
#
#   make demo   set up .venv, make the demo data, pretrain on it, print where results are
#   make test   set up .venv, run the test suite
#
# `make setup` alone builds the environment (see tools/setup_env.sh).

SHELL      := /bin/bash
PYTHON     := .venv/bin/python
DEMO_DATA  ?= data/demo
DEMO_CFG   ?= configs/byol/byol_resnet18_1xb16-10e_demo.py
DEMO_DIR   ?= work_dirs/demo
PYTEST_ARGS ?=

.PHONY: help setup demo demo-data test clean

help:
	@sed -n '1,8p' Makefile

setup:
	@bash tools/setup_env.sh

demo-data: setup
	@$(PYTHON) tools/data/make_demo_data.py $(DEMO_DATA)

demo: demo-data
	@$(PYTHON) tools/train.py $(DEMO_CFG) --work-dir $(DEMO_DIR)/byol
	@echo "[demo] done. Logs, config dump and checkpoints: $(DEMO_DIR)/byol (latest: $$(cat $(DEMO_DIR)/byol/last_checkpoint))"

# pytest exits 5 when it collects nothing: fine for a filtered run
# (`make test PYTEST_ARGS='-k foo'`), a failure for the whole suite.
test: setup
	@$(PYTHON) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then \
		if [ -n "$(PYTEST_ARGS)" ]; then echo "[test] no test matched PYTEST_ARGS='$(PYTEST_ARGS)'"; exit 0; fi; \
		echo "[test] error: pytest collected no tests at all (exit 5)"; exit 1; \
	fi; exit $$rc

clean:
	rm -rf work_dirs .pytest_cache
