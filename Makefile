# Two commands: `make serve` and `make test`. Both create .venv/ on first use.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
# The CPU build of torch; GPU users: `make TORCH="torch --index-url https://download.pytorch.org/whl/cu126" serve`
TORCH   ?= torch==2.13.0
STAMP   := $(VENV)/.installed

.PHONY: serve test venv bench clean

$(STAMP): pyproject.toml Makefile
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

serve: $(STAMP)
	$(BIN)/spade serve

test: $(STAMP)
	$(BIN)/python -m pytest -q -ra

bench: $(STAMP)
	$(BIN)/spade bench --model weights/landscapes --size 256 --batch 1,8 --precision fp32,auto

clean:
	rm -rf $(VENV) .pytest_cache
