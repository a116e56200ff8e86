# Two entry points for a fresh machine: `make demo` and `make test`. Both create .venv and install into it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: demo test install install-dev browser bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) -e .
	touch $@

# NeuroGym pins exact numpy/matplotlib minors (numpy==2.2.*) that would downgrade the whole test
# environment; its task classes run fine on ours, so the tests install it without its pins, after its other
# dependencies (the neurogym extra), as the error message of a missing NeuroGym tells users to.
$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(PIP) -e '.[dev,neurogym]'
	$(PIP) --no-deps 'neurogym==2.3.1'
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

# Headless Chromium for the report's browser test (Debian package; skipped with a reason if unavailable).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) 2>/dev/null \
	  || echo "note: chromium could not be installed; the browser test will be skipped"; }

demo: $(VENV)/.installed
	$(VENV)/bin/dynascope demo --out runs/demo

test: $(VENV)/.installed-dev browser
	$(PY) -m pytest -n 2 --dist loadfile -q

bench: $(VENV)/.installed-dev
	$(PY) benchmarks/train_population.py

clean:
	rm -rf $(VENV) runs .pytest_cache
