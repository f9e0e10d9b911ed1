# Two entry points for a fresh clone: `make book` and `make test`. Each sets up its own virtualenv.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: test book book-execute data export

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e ".[dev,dask]"
	touch $@

# Jupyter, to execute chapters while rendering. Quarto itself is found (or installed) by tools/quarto.sh.
$(VENV)/.jupyter: $(VENV)/.dev
	$(BIN)/python -m pip install jupyter
	touch $@

## Run the whole test suite: package tests, book-structure checks, and every chapter notebook.
test: $(VENV)/.dev
	$(BIN)/python -m pytest

## Build the book (website in _book/, the PDF report _book/toymodels-report.pdf) from the notebooks' stored
## outputs, and check it: no error, no warning but typst-gather's, no unresolved reference, a PDF.
## Quarto: `quarto` on PATH, the offline build in ../shared/tools/quarto, or pip's quarto-cli (see tools/quarto.sh).
book: $(VENV)/.dev
	tools/render_check.sh

## Re-execute every chapter while rendering.
book-execute: $(VENV)/.jupyter
	tools/quarto.sh render --execute

## Regenerate every missing or stale result in data/ (add ARGS="--force" to recompute all).
data: $(VENV)/.dev
	$(BIN)/toymodels reproduce $(ARGS)

## Regenerate the package from the notebooks and strip notebook metadata.
export: $(VENV)/.dev
	$(BIN)/nbdev-export && $(BIN)/nbdev-clean
