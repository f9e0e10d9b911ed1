# Two entry points for a fresh clone: `make book` and `make test`. Each sets up its own virtualenv.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: test book data export clean-nbs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e ".[dev]"
	touch $@

$(VENV)/.book: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e ".[book]"
	touch $@

## Run the whole test suite: package tests, book-structure checks, and every chapter notebook.
test: $(VENV)/.dev
	$(BIN)/python -m pytest

## Build the book (website in _book/ and the PDF report) from the notebooks' stored outputs. Needs Quarto (the book extra).
book: $(VENV)/.book
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/quarto render

## Re-execute every chapter while rendering.
book-execute: $(VENV)/.book
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/quarto render --execute

## Regenerate every missing or stale result in data/ (add ARGS="--force" to recompute all).
data: $(VENV)/.dev
	$(BIN)/toymodels reproduce $(ARGS)

## Regenerate the package from the notebooks and strip notebook metadata.
export: $(VENV)/.dev
	$(BIN)/nbdev-export && $(BIN)/nbdev-clean
