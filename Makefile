# The two commands of the README. Both install into .venv if needed (torch pinned first).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONFIG ?= configs/sft/igsm_tiny_bridge.yaml
export OMP_NUM_THREADS ?= 2
export TOKENIZERS_PARALLELISM := false

.PHONY: install quickstart test lint

$(BIN)/bilight: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev]"
	$(BIN)/python -m ipykernel install --user --name python3 >/dev/null
	touch $(BIN)/bilight

install: $(BIN)/bilight

quickstart: install
	$(BIN)/bilight fit --config $(CONFIG)

lint: install
	$(BIN)/ruff check bilight tests benchmarks
	$(BIN)/ruff format --check bilight tests
	$(BIN)/mypy bilight

test: install lint
	$(BIN)/python -m pytest -q -x --durations=10 tests notebooks --nbmake --nbmake-timeout=600 $(if $(SLOW),,-m "not slow")
