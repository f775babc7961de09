# Two commands: `make run` (the app) and `make test` (the whole suite). Both set up first if needed.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
# torch first, pinned: on a CPU-only machine pip finds the CPU build (2.13.0 lies on disk on CI
# machines); on Linux with an NVIDIA GPU the default PyPI build of 2.13.0 is the CUDA one.
# Override for another CUDA version: make setup TORCH_SPEC="torch==2.13.0 --index-url <pytorch cu index>"
TORCH_SPEC ?= torch==2.13.0
STAMP  := $(VENV)/.setup-done

.PHONY: setup run test test-fast lint bench clean package package-test

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade --quiet pip
	$(PIP) install --quiet $(TORCH_SPEC)
	$(PIP) install --quiet -e '.[dev,projection,tracking]'
	@# llama.cpp for the GGUF checks and k-quants: built from source the first time (~10 min on
	@# 2 cores, then pip's wheel cache). Without it GGUF export still works, unverified.
	$(PIP) install --quiet -e '.[gguf]' || echo "warning: llama-cpp-python did not install: GGUF exports will not be checked by llama.cpp"
	touch $(STAMP)

run: setup
	$(PY) main.py

test: setup
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

test-fast: setup
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -m "not slow"

lint: setup
	$(VENV)/bin/ruff check studio tests bench
	$(VENV)/bin/lint-imports

bench: setup
	$(PY) bench/train_throughput.py

# The stand-alone one-folder app (dist/studio/studio) for this machine: PyInstaller, from the
# `package` extra (not part of setup). Slow: ~N min and ~1-2 GB with torch (docs/performance.md).
PACKAGE_STAMP := $(VENV)/.package-deps-done
$(PACKAGE_STAMP): $(STAMP)
	$(PIP) install --quiet -e '.[package]'
	touch $(PACKAGE_STAMP)

package: $(PACKAGE_STAMP)
	$(PY) -m PyInstaller --noconfirm --distpath dist --workpath build/pyinstaller packaging/studio.spec
	@du -sh dist/studio

# The built app, headless, from a folder outside the source tree: its tour for a few steps.
package-test:
	test -x dist/studio/studio || { echo "error: run 'make package' first" >&2; exit 2; }
	tmp=$$(mktemp -d) && cd $$tmp && \
	QT_QPA_PLATFORM=offscreen $(CURDIR)/dist/studio/studio demo --steps 3 --quit --workdir $$tmp/tour && \
	$(CURDIR)/dist/studio/studio check-data $$tmp/tour/starter-pretrained/pretrain_heldout.txt && \
	rm -rf $$tmp && echo "package-test: ok"

clean:
	rm -rf $(VENV) .pytest_cache build dist *.egg-info
