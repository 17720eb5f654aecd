# The two commands: `make run` (set up and start everything) and `make test` (every test).
# Both install what is missing first, so they work on a fresh machine.

VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMPS := .stamps
NODE_PKGS := infra/local_dynamodb infra/fonts infra/claude_code infra/codex
# The dashboard's fonts: woff2 files copied from the @fontsource npm packages (served by Streamlit).
FONTS_DIR := static/fonts
FONT_FILES := instrument-serif/files/instrument-serif-latin-400-normal \
  instrument-serif/files/instrument-serif-latin-400-italic \
  outfit/files/outfit-latin-300-normal outfit/files/outfit-latin-400-normal \
  outfit/files/outfit-latin-500-normal outfit/files/outfit-latin-600-normal \
  jetbrains-mono/files/jetbrains-mono-latin-400-normal \
  jetbrains-mono/files/jetbrains-mono-latin-600-normal

.PHONY: run test setup lint typecheck pytest chromium bubblewrap git clean bench

run: setup
	$(PY) -m infra.run_local

test: setup chromium lint typecheck pytest

setup: $(STAMPS)/python $(STAMPS)/node $(FONTS_DIR)/.installed bubblewrap git

$(STAMPS)/python: requirements.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/node: $(foreach p,$(NODE_PKGS),$(p)/package-lock.json)
	@for pkg in $(NODE_PKGS); do \
	  echo "npm ci in $$pkg"; \
	  (cd $$pkg && npm ci --no-audit --no-fund --loglevel=error) || exit 1; \
	done
	@mkdir -p $(STAMPS) && touch $@

$(FONTS_DIR)/.installed: $(STAMPS)/node infra/fonts/package-lock.json
	@mkdir -p $(FONTS_DIR)
	@for f in $(FONT_FILES); do cp infra/fonts/node_modules/@fontsource/$$f.woff2 $(FONTS_DIR)/ || exit 1; done
	@touch $@

# Debian's chromium for the browser tests (Playwright drives it; never `playwright install`),
# and a colour emoji font so the mascots render in screenshots.
chromium:
	@if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi "color emoji"; then \
	  echo "installing Debian's chromium and fonts-noto-color-emoji"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq chromium fonts-noto-color-emoji >/dev/null; \
	fi

# Debian's bubblewrap: every agent step runs in a bwrap sandbox (docs/AGENTS.md "Sandbox").
bubblewrap:
	@if ! command -v bwrap >/dev/null 2>&1; then \
	  echo "installing Debian's bubblewrap"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq bubblewrap >/dev/null; \
	fi

# Debian's git (≥ 2.38 for merge-tree --write-tree): clones, pushes and merges (docs/REPOSITORY.md).
git:
	@if ! command -v git >/dev/null 2>&1; then \
	  echo "installing Debian's git"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq git >/dev/null; \
	fi

lint:
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck:
	$(PY) -m mypy .

pytest:
	$(PY) -m pytest

bench: setup
	@echo "see docs/BENCHMARKS.md for the benchmark commands"

clean:
	rm -rf $(STAMPS) .data .workspaces test-artifacts
