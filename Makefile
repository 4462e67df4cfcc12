# make demo  - set up (OpenCL runtime if missing, virtualenv) and run the demo
# make test  - set up and run the test suite on the default device (what CI runs first)
# make ci    - everything .ci/run runs: the suite on the default device, with a GPU profile
#              forced, on PoCL's AVX2 target, on Mesa's Rusticl; the offline GPU compile check;
#              the sanitizer
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST := CLCONV_EXPECT_INSTALLED=1 $(VENV)/bin/pytest -q
SOURCES := pyproject.toml $(wildcard clconv/*.py clconv/*/*.py clconv/*.json kernels/*.cl kernels/*.h kernels/*.py)
APT := DEBIAN_FRONTEND=noninteractive apt-get

.PHONY: demo test ci test-gpu-profile test-avx2 test-rusticl gpu-compile check devices setup \
        opencl peers clean sanitize

demo: setup
	$(PY) -m clconv check
	$(PY) -m clconv demo

test: setup
	$(PYTEST) $(PYTEST_ARGS)

ci: test test-gpu-profile test-avx2 test-rusticl gpu-compile sanitize

# The GPU code paths (algorithms, launch shapes, vector widths of a GPU) on the default device.
test-gpu-profile: setup
	CLCONV_PROFILE=gpu $(PYTEST) $(PYTEST_ARGS)

# PoCL's AVX2 kernel library on an x86-64 host (what an AVX2-only CPU gets): every build must be
# free of warnings there too. The ops' tests; skipped where the host or PoCL cannot (no AVX2,
# not Debian's PoCL), and a plain repeat of `make test` on an AVX2 host.
AVX2_TESTS := tests/test_conv.py tests/test_pool.py tests/test_norm.py tests/test_grad.py \
              tests/test_half.py tests/test_fused.py tests/test_dispatch.py tests/test_elementwise.py
test-avx2: setup
	@if grep -qw avx2 /proc/cpuinfo 2>/dev/null && ls /usr/share/pocl/kernel-*-avx2.bc >/dev/null 2>&1; then \
	  echo "the ops' tests on PoCL's AVX2 target"; \
	  POCL_KERNELLIB_NAME=avx2 $(PYTEST) $(AVX2_TESTS) $(PYTEST_ARGS); \
	else echo "test-avx2: skipped (no AVX2 CPU, or no Debian PoCL AVX2 kernel library)"; fi

# Mesa's Rusticl on llvmpipe: a second OpenCL implementation (clang -> SPIR-V -> NIR) whose
# device reports itself as a GPU (OpenCL C 1.2, no fp64, 32 KiB of local memory). Every test but
# the heavy ones (the benchmark suite, the soak, the training demos: whole programs whose kernels
# the other tests cover, 10 of the 13 minutes on llvmpipe; make test runs them on PoCL).
test-rusticl: setup
	@if ! ls /usr/lib/x86_64-linux-gnu/libRusticlOpenCL.so* /usr/lib/*/libRusticlOpenCL.so* >/dev/null 2>&1; then \
	  echo "Rusticl missing: installing Debian's mesa-opencl-icd and libclc-15"; \
	  if [ "$$(id -u)" != 0 ]; then echo "run as root or install mesa-opencl-icd yourself" >&2; exit 1; fi; \
	  $(APT) update -qq && $(APT) install -y -qq mesa-opencl-icd libclc-15 >/dev/null; \
	fi
	RUSTICL_ENABLE=llvmpipe RUSTICL_DEVICE_TYPE=gpu CLCONV_DEVICE=rusticl $(PYTEST) -m "not heavy" $(PYTEST_ARGS)

# Every kernel on a GPU path compiled for NVPTX and gfx90a (registers, private and local
# memory); fails on arrays in private memory or register spills.
gpu-compile: setup
	@if ! command -v clang-15 >/dev/null || [ ! -e /usr/lib/clc/nvptx64--nvidiacl.bc ]; then \
	  echo "clang-15 or libclc-15 missing: installing Debian's"; \
	  if [ "$$(id -u)" != 0 ]; then echo "run as root or install clang-15 libclc-15 yourself" >&2; exit 1; fi; \
	  $(APT) update -qq && $(APT) install -y -qq clang-15 libclc-15 >/dev/null; \
	fi
	$(PY) tools/gpu_compile.py $(GPU_COMPILE_ARGS)

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
	  $(APT) update -qq && \
	  $(APT) install -y -qq pocl-opencl-icd ocl-icd-libopencl1 clinfo >/dev/null; \
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
	  $(APT) update -qq && $(APT) install -y -qq oclgrind >/dev/null; \
	fi
	$(PY) tools/sanitize.py $(SANITIZE_ARGS)
