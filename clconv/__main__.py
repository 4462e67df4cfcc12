"""python -m clconv {devices,check,demo,bench,tune,forward,run}"""
from __future__ import annotations

import argparse
import sys
import warnings

from . import runtime


def _devices() -> int:
    from . import tuning

    usable = {d.cl_device: d for d in runtime.devices()}
    for p_index, (platform, found) in enumerate(runtime.platforms()):
        print(f"platform {p_index}: {platform}")
        if not found:
            print("  (no devices)")
        for d_index, (dev, description) in enumerate(found):
            print(f"  device {p_index}:{d_index}: {description} - {runtime.device_state(dev)}")
            if dev in usable:
                profile = usable[dev].profile
                for line in profile.lines():
                    print(f"    {line}")
                print("    tuning table levels:")
                for source in tuning.sources(profile):
                    print(f"      {source}")
    if usable:
        print(f"default: {runtime.get_device()}")
    return 0 if usable else 1


def _check(seed: int) -> int:
    from .selfcheck import run_checks
    device = runtime.get_device()
    print(f"checking every op on {device.name} ({device.platform_name}) against clconv.reference")
    ok = run_checks(device, seed)
    print("all ops match the reference" if ok else "SOME OPS DO NOT MATCH THE REFERENCE")
    return 0 if ok else 1


def _demo(args) -> int:
    from .train_demo import main
    return main(args)


def _forward(args) -> int:
    from .demo import main
    return main(args)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:  # its own options: python -m clconv bench --help
        from .bench.run import main as bench
        return bench(argv[1:])
    if argv[:1] == ["run"]:  # python -m clconv run MODEL.onnx --help
        from .bench.onnx_run import main as run
        return run(argv[1:])
    if argv[:1] == ["tune"]:
        from .tune import main as tune
        return tune(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m clconv", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("devices", help="list OpenCL platforms and devices with their limits")
    check = commands.add_parser("check", help="run every op against clconv.reference")
    check.add_argument("--seed", type=int, default=0)
    demo = commands.add_parser("demo", help="train a small CNN on the 8x8 digits")
    demo.add_argument("--epochs", type=int, default=15)
    demo.add_argument("--batch-size", type=int, default=32)
    demo.add_argument("--lr", type=float, default=0.01)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--min-accuracy", type=float, default=0.97,
                      help="fail below this held-out accuracy (0 to disable)")
    demo.add_argument("--plot", default="clconv-digits.png", help="where to write the PNG")
    commands.add_parser("bench", help="the benchmark suite against NumPy and PyTorch CPU "
                                      "(python -m clconv bench --help)")
    commands.add_parser("tune", help="search kernel settings for this device, write them as "
                                     "JSON (python -m clconv tune --help)")
    commands.add_parser("run", help="run an ONNX model: latency, throughput, --profile, "
                                    "--check against onnxruntime (python -m clconv run --help)")
    forward = commands.add_parser("forward", help="a small CNN's forward pass, layer by layer")
    forward.add_argument("--batch", type=int, default=32)
    args = parser.parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", runtime.CompilerWarning)
        if args.command == "devices":
            return _devices()
        if args.command == "check":
            return _check(args.seed)
        if args.command == "forward":
            return _forward(args)
        return _demo(args)


if __name__ == "__main__":
    sys.exit(main())
