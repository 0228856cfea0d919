# Two commands do all the set-up on a fresh machine:
#   make demo   - create .venv, install newsbot, build the index and answer a sample question (offline)
#   make test   - the same install plus dev tools, then ruff and the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
QUESTION ?= How much tungsten will the Severnyi Katpar joint venture produce per year?

.PHONY: install install-dev demo test lint bench eval fit

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

# The answer step's figures (issue 10's table) on every eval set present; `fit` refits bot/answering/weights.json.
SHARED_EVAL := ../shared/eval
eval: install
	@for set in $(SHARED_EVAL)/squad eval/news-report; do \
		if [ -d $$set ]; then echo "== $$set"; $(BIN)/newsbot eval --summary $$set; fi; \
	done
	@if [ -f $(SHARED_EVAL)/golden.jsonl ]; then echo "== golden"; $(BIN)/newsbot eval --summary $(SHARED_EVAL)/golden.jsonl; fi
	@echo "== eval/newsbot.jsonl"; $(BIN)/newsbot eval --summary eval/newsbot.jsonl

fit: install-dev
	$(BIN)/python -m bench.fit_answerer
