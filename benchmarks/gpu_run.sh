#!/usr/bin/env bash
# clconv on an NVIDIA GPU against PyTorch/cuDNN on the same GPU, in one go (about 10 minutes at
# most): what the machine has, the correctness checks (every op against clconv.reference, then
# the benchmark suite's cases at small sizes, checked), and the GPU benchmark suite
# (`python -m clconv bench --gpu`: float32 with TF32 off, medians of 10 runs after warm-up, the
# device synchronized). Writes env.txt, check.txt, quick.txt, bench.txt and bench.json into $OUT
# (the device tool's folder that comes back) or benchmarks/gpu-run/.
#
# On a GPU machine without a package registry (../shared/gpu/README.md): first, here,
#   bash ../shared/gpu/prepare-wheels.sh && cp ../shared/gpu/on-gpu.sh .whl/
# then take .whl/ along (the device tool: carry [".whl"]) and run `bash benchmarks/gpu_run.sh`
# there; it sources .whl/on-gpu.sh (the wheels into /tmp/site, NVIDIA's OpenCL driver made
# visible to pyopencl) when it is present. GPU_RUN_ONLY=CASES limits the timed suite (bench
# --only), for a dry run on a slow device (Rusticl's llvmpipe reports itself as a GPU).
set -u
cd "$(dirname "$0")/.."
out=${OUT:-benchmarks/gpu-run}
mkdir -p "$out"
start=$(date +%s)
step() { echo "=== $1 ($(( $(date +%s) - start )) s)"; }

if [ -f .whl/on-gpu.sh ]; then
  step "installing the carried wheels"
  # shellcheck disable=SC1091
  . .whl/on-gpu.sh > "$out/env.txt" 2>&1 || { cat "$out/env.txt"; exit 1; }
else
  export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
  : > "$out/env.txt"
fi
python3 - >> "$out/env.txt" 2>&1 <<'PY'
import platform
try:
    import torch
    print(f"python {platform.python_version()} | torch {torch.__version__} | CUDA "
          f"{torch.version.cuda} | cuDNN {torch.backends.cudnn.version()} | GPU "
          f"{torch.cuda.get_device_name() if torch.cuda.is_available() else 'none visible'}")
except ImportError:
    print(f"python {platform.python_version()} | no PyTorch: nothing to compare with")
PY
python3 -m clconv devices >> "$out/env.txt" 2>&1
cat "$out/env.txt"
if ! python3 -c "import clconv, sys; sys.exit(clconv.get_device().profile.kind != 'gpu')"; then
  echo "gpu_run: clconv's device is not a GPU (is NVIDIA's OpenCL driver there? see env.txt)" >&2
  exit 2
fi

step "correctness: python -m clconv check"
timeout 120 python3 -m clconv check > "$out/check.txt" 2>&1
check=$?
tail -n 5 "$out/check.txt"

step "correctness: the suite's cases at small sizes (bench --quick, checked)"
timeout 90 python3 -m clconv bench --quick --peers "" > "$out/quick.txt" 2>&1
quick=$?
grep -v "^#" "$out/quick.txt" | awk '$NF != "ok"' | head -n 20

step "speed: bench --gpu against PyTorch/cuDNN on the same GPU"
# shellcheck disable=SC2086
timeout 330 python3 -m clconv bench --gpu ${GPU_RUN_ONLY:+--only "$GPU_RUN_ONLY"} --runs 10 --timeout 150 --json "$out/bench.json" > "$out/bench.txt" 2>&1
bench=$?
cat "$out/bench.txt"

step "done: check exit $check, quick exit $quick, bench exit $bench"
[ "$check" -eq 0 ] && [ "$quick" -eq 0 ] && [ "$bench" -eq 0 ]
