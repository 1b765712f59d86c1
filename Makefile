# VideoBERT corpus pipeline. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
OUT ?= out
ARGS ?=
STAGE ?=

.DEFAULT_GOAL := help
.PHONY: help install corpus stage inspect report pretrain eval caption clipbert retrieval test bench lint clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'
	@echo "  variables: OUT=$(OUT) (output root, local or gs://), ARGS='...' (pipeline options), STAGE=<name>"

$(BIN)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $@

install: $(BIN)/.installed ## create .venv with the pinned packages (reruns only when pyproject/constraints change)

corpus: install ## build the corpus under OUT (default: the embedded sample world, offline)
	$(BIN)/python -m pipelines.corpus --out=$(OUT) $(ARGS)

stage: install ## rerun one stage from its inputs on disk: make stage STAGE=features
	@test -n "$(STAGE)" || { echo "usage: make stage STAGE=discover|frames|features|kmeans|tokens|corpus"; exit 2; }
	$(BIN)/python -m pipelines.corpus --out=$(OUT) --stages=$(STAGE) $(ARGS)

inspect: install ## summarise OUT: stages, failures, corpus stats (ARGS=--json, --report)
	$(BIN)/python -m pipelines.inspect --out=$(OUT) $(ARGS)

report: install ## write the HTML report OUT/report/index.html (+ one page per example video)
	$(BIN)/python -m pipelines.inspect --out=$(OUT) --report $(ARGS) > /dev/null

pretrain: install ## pretrain VideoBERT on OUT/corpus (ARGS='--preset paper', '--resume', '--steps N')
	$(BIN)/python -m model.train --corpus=$(OUT)/corpus --centroids=$(OUT)/kmeans/centroids.parquet --out=$(OUT)/pretrain $(ARGS)

eval: install ## evaluate OUT/pretrain/final: Table 1 zero-shot verb/noun (+ baselines, leak check), forecasting, text-to-video → OUT/eval/metrics.json
	$(BIN)/python -m model.evaluate --model=$(OUT)/pretrain/final --out=$(OUT) $(ARGS)

clipbert: install ## train ClipBERT on sparse clips of OUT's videos → OUT/clipbert (ARGS='--preset paper', '--resume')
	$(BIN)/python -m model.clipbert.train --out=$(OUT) $(ARGS)

retrieval: install ## text-to-video R@1/5/10, MdR: ClipBERT, VideoBERT, chance → OUT/eval/retrieval.json
	$(BIN)/python -m model.clipbert.retrieval --out=$(OUT) $(ARGS)
caption: install ## the paper's Table 3: captioners on VideoBERT/S3D features + baselines → OUT/eval/captioning.json
	$(BIN)/python -m model.caption --out=$(OUT) $(ARGS)

test: install ## run the offline test suite
	$(BIN)/pytest -q $(ARGS)

bench: install ## run the benchmarks (ratios measured side by side)
	$(BIN)/python -m benchmarks $(ARGS)

lint: install ## ruff check + format check
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean: ## remove OUT (not the venv)
	rm -rf $(OUT)
