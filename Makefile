# ragbot: the two commands of the README are `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
RAGBOT := $(VENV)/bin/ragbot
PYTHON ?= python3
DATA_DIR ?= data
export DATA_DIR
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup demo test test-fast bench eval eval-feedback lint clean

# torch first, pinned: the CPU build lies on this machine's disk, and an unpinned torch
# (asked for by sentence-transformers) would pull a multi-GB CUDA build instead.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev,llm-default]'
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(RAGBOT) db upgrade
	$(RAGBOT) ingest examples/docs/sds-local-volume --space demo
	$(RAGBOT) ask "How do I create a LocalStorageClass for thick LVM volumes?" --space demo
	$(RAGBOT) ask "Как включить модуль sds-local-volume?" --space demo

test: setup
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not slow and not llm and not postgres"

# The re-ingestion figure wants 1,000+ real chunks: the AWS docs of the shared demo set when present.
BENCH_SAMPLE ?= ../shared/demo_docs/aws
bench: setup
	$(RAGBOT) bench all --out docs/bench $(if $(wildcard $(BENCH_SAMPLE)),--sample $(BENCH_SAMPLE))

eval: setup
	for set in deckhouse_faq_enru aws_docs_qa xquad_enru; do \
	  for mode in bm25 dense hybrid; do \
	    $(RAGBOT) eval retrieval ../shared/eval/$$set --mode $$mode --json; \
	  done; \
	done
	# follow-up questions in a thread (docs/retrieval.md): xquad on a fixed sample of 200 per language
	for set in deckhouse_faq_enru aws_docs_qa; do $(RAGBOT) eval followups ../shared/eval/$$set --json; done
	$(RAGBOT) eval followups ../shared/eval/xquad_enru --per-lang 200 --json

# Votes that move retrieval (simulated votes on one half of the questions, scored on the other)
# and the verified-answer thresholds: docs/retrieval.md, "Feedback that changes answers".
eval-feedback: setup
	for set in deckhouse_faq_enru xquad_enru aws_docs_qa; do \
	  $(RAGBOT) eval feedback ../shared/eval/$$set --weight 0.5 --weight 1 --weight 2 --any-question \
	    --rewordings tests/data/verified/pairs.tsv --json; \
	done
	$(RAGBOT) eval verified tests/data/verified/pairs.tsv --json

lint: setup
	$(VENV)/bin/ruff check core bot tests
	$(VENV)/bin/ruff format --check core bot tests

clean:
	rm -rf $(VENV) $(DATA_DIR)
