# make demo  - set up (OpenCL runtime if missing, virtualenv) and run the demo
# make test  - set up and run the test suite (what .ci/run does)
# make sanitize - run every kernel under Oclgrind's memory, race and API checks
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SOURCES := pyproject.toml $(wildcard clconv/*.py clconv/*/*.py kernels/*.cl kernels/*.h kernels/*.py)

.PHONY: demo test check devices setup opencl peers clean sanitize

demo: setup
	$(PY) -m clconv check
	$(PY) -m clconv demo

test: setup
	CLCONV_EXPECT_INSTALLED=1 $(VENV)/bin/pytest -q $(PYTEST_ARGS)

check devices: setup
	$(PY) -m clconv $@

setup: $(VENV)/.installed opencl peers

# PyTorch (CPU) is an optional peer: tests cross-check clconv.reference against it and the
# benchmarks compare with it. Installed only from a wheel already on this machine's disk (a
# download would be gigabytes); without it those tests are skipped and say why.
TORCH_WHEEL := $(firstword $(wildcard /opt/wheels/torch-2.13.0*.whl))
peers: $(VENV)/.installed
	@if [ -n "$(TORCH_WHEEL)" ] && ! $(PY) -c "import torch" 2>/dev/null; then \
	  echo "installing the optional peer PyTorch from $(TORCH_WHEEL)"; \
	  $(PY) -m pip install -q "torch==2.13.0" || echo "PyTorch not installed; its comparisons are skipped"; \
	fi

# The package is installed (not editable) so that the tests exercise what a user gets,
# kernels found inside the installed package included.
$(VENV)/.installed: $(SOURCES)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --force-reinstall --no-deps .
	$(PY) -m pip install -q ".[test,examples]"
	touch $@

# Debian's PoCL gives a CPU device when the machine has no usable OpenCL platform.
opencl: $(VENV)/.installed
	@if ! (cd /tmp && $(abspath $(PY)) -c "import clconv; clconv.get_device()") >/dev/null 2>&1; then \
	  echo "no usable OpenCL device: installing Debian's PoCL"; \
	  if [ "$$(id -u)" != 0 ]; then echo "run as root or install pocl-opencl-icd yourself" >&2; exit 1; fi; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pocl-opencl-icd ocl-icd-libopencl1 clinfo >/dev/null; \
	fi
	@cd /tmp && $(abspath $(PY)) -c "import clconv; print('clconv device:', clconv.get_device())"

clean:
	rm -rf $(VENV) build *.egg-info

# Every kernel on small shapes under Oclgrind (an OpenCL simulator that checks each access):
# out-of-bounds accesses, uninitialized values, data races and API errors fail the run. Debian's
# oclgrind is installed when missing. SANITIZE_ARGS="-k conv2d" runs the matching cases only.
sanitize: setup
	@if ! command -v oclgrind >/dev/null; then \
	  echo "Oclgrind missing: installing Debian's oclgrind"; \
	  if [ "$$(id -u)" != 0 ]; then echo "run as root or install oclgrind yourself" >&2; exit 1; fi; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq oclgrind >/dev/null; \
	fi
	$(PY) tools/sanitize.py $(SANITIZE_ARGS)
