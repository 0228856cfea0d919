# Two commands do all the set-up on a fresh machine:
#   make demo   - create .venv, install newsbot, build the index and answer a sample question (offline)
#   make test   - the same install plus dev tools, then ruff and the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
QUESTION ?= How much tungsten will the Severnyi Katpar joint venture produce per year?

.PHONY: install install-dev demo test lint bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The editable install leaves newsbot's own modules uncompiled, and where PYTHONDONTWRITEBYTECODE is set (as on
# this machine) every command compiled them again: about 0.05 s of a 1-second cold `ask`. compileall writes the
# caches whatever that variable says; Python still recompiles a module whose source changed since.
COMPILE := $(BIN)/python -m compileall -q bot index

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .
	$(COMPILE)

install-dev: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	$(COMPILE)

demo: install
	$(BIN)/newsbot ask "$(QUESTION)"

lint: install-dev
	$(BIN)/ruff check .

test: install-dev
	$(BIN)/ruff check .
	$(BIN)/pytest

bench: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[bench]'
	$(COMPILE)
	$(BIN)/python -m bench.run
