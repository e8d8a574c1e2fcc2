# Two entry points for a fresh Debian machine (see README):
#   make demo   - set up and run the main job on embedded defaults
#   make test   - set up everything the tests need and run the whole suite
# Every target is idempotent: a second run installs nothing new.

PYTHON   ?= python3
VENV     := .venv
BIN      := $(VENV)/bin
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PKGS := mosquitto mosquitto-clients socat nodejs npm
PYTEST_ARGS ?=

.PHONY: demo test bench setup system-deps venv devnet clean

demo: setup
	$(BIN)/dta demo

test: setup
	$(BIN)/pytest $(PYTEST_ARGS)

bench: setup
	$(BIN)/python -m bench

setup: system-deps venv devnet

# Debian packages: the MQTT broker, socat (serial emulation) and Node (regtest node, OpenID provider).
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
