# Two entry points for a fresh Debian machine (see README):
#   make demo   - set up and run the main job on embedded defaults
#   make test   - set up everything the tests need and run the whole suite
# and the long fuzz run (the suite's tests/fuzz runs a smoke profile of it):
#   make fuzz   - every fuzz property with FUZZ_EXAMPLES examples per decoder
# Every target is idempotent: a second run installs nothing new.

PYTHON   ?= python3
VENV     := .venv
BIN      := $(VENV)/bin
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PKGS := mosquitto mosquitto-clients socat nodejs npm chromium
PYTEST_ARGS ?=

.PHONY: demo test bench fuzz setup system-deps venv devnet clean

demo: setup
	$(BIN)/dta demo

test: setup
	$(BIN)/pytest $(PYTEST_ARGS)

bench: setup
	$(BIN)/python -m bench

# FUZZ_EXAMPLES per decoder, weighted down where one example costs an scrypt run, a SQLite file
# or a socket (tests/fuzz/support.py): at the default, over 1,000,000 inputs in all, host and VM.
# Prints the inputs fed to each decoder and the findings (failing properties, known xfails).
FUZZ_EXAMPLES ?= 25000

fuzz: setup
	DTA_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest tests/fuzz -s -rfxX --timeout=7200 \
	  -p no:cacheprovider

setup: system-deps venv devnet

# Debian packages: the MQTT broker, socat (serial emulation), Node (regtest node, OpenID provider)
# and Chromium (the status page test loads the page in headless Chromium).
system-deps:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then missing=$$(echo $$missing | tr ' ' '\n' | grep -v -x -e nodejs -e npm | tr '\n' ' '); fi; \
	if [ -n "$$(echo $$missing)" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[test]'
	touch $@

devnet: devnet/node_modules/.installed

devnet/node_modules/.installed: devnet/package.json devnet/package-lock.json
	cd devnet && npm ci --no-audit --no-fund --loglevel=error
	touch $@

clean:
	rm -rf $(VENV) devnet/node_modules .pytest_cache
