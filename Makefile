# tf_aql: the two commands.
#   make train  - set up .venv (first time, or when requirements.txt changes) and run the default job
#   make test   - set up .venv and run the test suite
# Other targets: make setup, make clean-venv.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ROOT_DIR ?= runs/quickstart
GIN_FILE ?= gin/quickstart.gin
PYTEST_ARGS ?=

.PHONY: setup train test clean-venv

setup: $(STAMP)

# Find a Python 3.9-3.11 (TF 2.15 and dm-reverb 0.14 have no 3.12 builds); fail with a clear message.
$(VENV)/bin/python:
	@py=""; for c in $${PYTHON:-} python3.11 python3.10 python3.9 python3 python; do \
	  if command -v $$c >/dev/null 2>&1 && $$c -c 'import sys; sys.exit(0 if (3,9) <= sys.version_info[:2] <= (3,11) else 1)' 2>/dev/null; then py=$$c; break; fi; \
	done; \
	if [ -z "$$py" ]; then \
	  echo "error: tf_aql needs Python 3.9, 3.10 or 3.11 (TensorFlow 2.15 and dm-reverb 0.14 have no builds for 3.12+); found: $$(python3 --version 2>&1). Install Python 3.11 or set PYTHON=/path/to/python3.11." >&2; exit 1; \
	fi; \
	echo "Creating $(VENV) with $$py ($$($$py --version 2>&1))"; \
	$$py -m venv $(VENV)

# Reinstall only when requirements.txt changes.
$(STAMP): requirements.txt | $(VENV)/bin/python
	@echo "Installing pinned requirements into $(VENV) (first run takes a few minutes)..."
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
	@touch $(STAMP)

train: $(STAMP)
	$(PY) train/train_eval.py --root_dir=$(ROOT_DIR) --gin_file=$(GIN_FILE)

test: $(STAMP)
	$(PY) -m pytest -q tests $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)
