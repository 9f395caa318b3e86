# One entry point for people and CI. Every target does its own set-up, so a fresh
# clone needs only `make run` or `make test`.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
# `make run` starts the server clock inside the voting window (it then runs in
# real time), so the vote works whatever today's date is.
RUN_NOW ?= 2021-12-30T09:00:00+08:00

.PHONY: setup run build test lint typecheck check bench browser java nginx fonts clean

# The build draws the share images in Debian's Noto Sans CJK (the same pixels on every
# machine), so the set-up installs it: `fonts` is part of `setup`.
NOTO_CJK := /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc

setup: fonts $(VENV)/.installed node_modules/.installed

fonts:
	@if [ ! -f $(NOTO_CJK) ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk; \
	  else \
	    echo "The build needs Debian's Noto Sans CJK font: sudo apt-get install fonts-noto-cjk" >&2; exit 1; \
	  fi; \
	fi

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# --ignore-scripts: no package needs one, and vnu-jar's would try to download a JRE
# from GitHub; the tests run vnu.jar on Debian's Java instead (the java target).
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts
	touch $@

# Debian's chromium for the browser tests (Playwright drives it through
# executable_path; `playwright install` cannot download here).
browser:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk; \
	  else \
	    echo "Install Debian's chromium first: sudo apt-get install chromium fonts-noto-cjk" >&2; exit 1; \
	  fi; \
	fi

# Debian's Java for the W3C HTML validator (vnu.jar, from npm's vnu-jar) that the
# tests run over every built page.
java:
	@if ! command -v java >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless; \
	  else \
	    echo "Install Debian's Java first: sudo apt-get install default-jre-headless" >&2; exit 1; \
	  fi; \
	fi

# Debian's nginx (and openssl for a throwaway certificate) for tests/test_nginx.py,
# which runs docs/self-hosting/nginx-site.conf in front of serve, unprivileged.
nginx:
	@if ! command -v nginx >/dev/null 2>&1 && ! [ -x /usr/sbin/nginx ] || ! command -v openssl >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx openssl; \
	  else \
	    echo "Install Debian's nginx first: sudo apt-get install nginx openssl" >&2; exit 1; \
	  fi; \
	fi

build: setup
	$(BIN)/python build.py

run: setup
	$(BIN)/python build.py serve --port $(PORT) --now $(RUN_NOW)

test: setup browser java nginx
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

check: lint typecheck test

bench: setup browser
	$(MAKE) -C bench

clean:
	rm -rf dist .dist-* .pytest_cache .mypy_cache .ruff_cache .hypothesis
