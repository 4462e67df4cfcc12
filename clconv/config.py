"""clconv's configuration: every `CLCONV_*` environment variable, read here once, at import.

    import clconv
    with clconv.config.override(conv_forward="winograd", profile="gpu"):
        ...                                   # ops inside see these settings

`current()` is what every module consults; nothing else reads the environment or keeps a
setting of its own. Settings change only through `override(...)`, a context manager that lays
its values over the current ones for the whole process until the block ends (blocks nest).

| variable | setting | meaning |
|---|---|---|
| CLCONV_DEVICE | device | which device (`gpu`, `cpu`, `platform:device` indices or a name part) |
| PYOPENCL_CTX | pyopencl_ctx | pyopencl's own variable, honoured when CLCONV_DEVICE is unset |
| CLCONV_PROFILE | profile | `gpu` or `cpu`: choose algorithms and launch shapes as for a device of that kind (runs GPU code paths on a CPU device, for testing) |
| CLCONV_VECTOR_BYTES | vector_bytes | the width of the CPU kernels' vectors in bytes (16, 32 or 64; default: one of the device's vector registers) |
| CLCONV_CHECK=1 | check | every op also runs clconv.reference and raises CheckError on a mismatch |
| CLCONV_DEBUG=1 | debug | log every build, algorithm choice and launch |
| CLCONV_POISON=1 | poison | NaN-fill every new tensor |
| CLCONV_WORKSPACE_MB | workspace_mb | largest scratch copy before an op splits its work (default: a quarter of the device's memory) |
| CLCONV_WINOGRAD=0 | winograd | 3x3 convolutions without Winograd |
| CLCONV_TUNING | tuning_file | a tuning table (`python -m clconv tune`) laid over the shipped one |
| CLCONV_ALGORITHMS | algorithms | forced algorithms, `family=name,...` (`conv_forward=general`) |
| CLCONV_TEST_SEED, CLCONV_SOAK_STEPS, CLCONV_FUZZ_EXPLORE, CLCONV_EXPECT_INSTALLED | test_* | the test suite's own knobs |

`override()` also takes what has no variable: `tuning` (a table laid over everything, as the
tuner does with each candidate), `specialize` ("auto", "always", "never": conv_direct built per
shape) and, by family name, an algorithm to force (`conv_forward="direct"`, see
clconv.dispatch.families()).
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Mapping, Optional


@dataclass(frozen=True)
class Settings:
    device: Optional[str] = None
    pyopencl_ctx: Optional[str] = None
    profile: Optional[str] = None
    vector_bytes: Optional[int] = None
    check: bool = False
    debug: bool = False
    poison: bool = False
    workspace_mb: Optional[float] = None
    winograd: bool = True
    tuning_file: Optional[str] = None
    tuning: Optional[Mapping] = None
    specialize: str = "auto"
    algorithms: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    test_seed: Optional[int] = None
    test_soak_steps: int = 1000
    test_fuzz_explore: bool = False
    test_expect_installed: bool = False

    def algorithm(self, family: str) -> Optional[str]:
        """The algorithm forced for `family`, or None (the dispatcher chooses)."""
        return self.algorithms.get(family)


_PROFILES = (None, "cpu", "gpu")
_SPECIALIZE = ("auto", "always", "never")


def _flag(value: Optional[str]) -> bool:
    return bool(value) and value.strip().lower() not in ("0", "false", "no", "off")


def _algorithms(text: Optional[str]) -> Mapping[str, str]:
    chosen = {}
    for item in (text or "").split(","):
        if item.strip():
            family, sep, name = item.partition("=")
            if not sep or not name.strip():
                raise ValueError(f"CLCONV_ALGORITHMS: expected family=algorithm items, got {item!r}")
            chosen[family.strip()] = name.strip()
    return MappingProxyType(chosen)


def from_environment(environ: Mapping[str, str] = os.environ) -> Settings:
    """The settings the environment gives (what clconv starts with)."""
    get = environ.get
    workspace = get("CLCONV_WORKSPACE_MB")
    seed = get("CLCONV_TEST_SEED")
    settings = Settings(
        device=get("CLCONV_DEVICE") or None,
        pyopencl_ctx=get("PYOPENCL_CTX") or None,
        profile=(get("CLCONV_PROFILE") or "").strip().lower() or None,
        vector_bytes=int(get("CLCONV_VECTOR_BYTES")) if get("CLCONV_VECTOR_BYTES") else None,
        check=_flag(get("CLCONV_CHECK")),
        debug=_flag(get("CLCONV_DEBUG")),
        poison=_flag(get("CLCONV_POISON")),
        workspace_mb=float(workspace) if workspace else None,
        winograd=get("CLCONV_WINOGRAD", "1").strip() != "0",
        tuning_file=get("CLCONV_TUNING") or None,
        algorithms=_algorithms(get("CLCONV_ALGORITHMS")),
        test_seed=int(seed) if seed else None,
        test_soak_steps=int(get("CLCONV_SOAK_STEPS", 1000)),
        test_fuzz_explore=_flag(get("CLCONV_FUZZ_EXPLORE")),
        test_expect_installed=_flag(get("CLCONV_EXPECT_INSTALLED")),
    )
    _validate(settings, "the environment")
    return settings


def _validate(settings: Settings, where: str) -> None:
    if settings.profile not in _PROFILES:
        raise ValueError(f"clconv config ({where}): profile must be 'cpu' or 'gpu', "
                         f"got {settings.profile!r}")
    if settings.vector_bytes not in (None, 8, 16, 32, 64):
        raise ValueError(f"clconv config ({where}): vector_bytes must be 8, 16, 32 or 64, "
                         f"got {settings.vector_bytes!r}")
    if settings.specialize not in _SPECIALIZE:
        raise ValueError(f"clconv config ({where}): specialize must be one of {_SPECIALIZE}, "
                         f"got {settings.specialize!r}")


def _no_families(family: str, name: Optional[str]) -> None:
    raise TypeError(f"override: unknown setting {family!r}; settings: {', '.join(sorted(_NAMES))}")


_check_algorithm = _no_families


def set_algorithm_check(check) -> None:
    """`check(family, name)` raises for a keyword of override() that is neither a setting nor an
    op family with an algorithm of that name (None: any family). clconv.dispatch installs it."""
    global _check_algorithm
    _check_algorithm = check


_BASE = from_environment()
_stack: list[Settings] = []
_lock = threading.Lock()
_generation = 0  # changes whenever the current settings do (caches keyed by settings use it)


def current() -> Settings:
    """The settings in force now."""
    stack = _stack
    return stack[-1] if stack else _BASE


def generation() -> int:
    """A number that changes whenever the current settings change."""
    return _generation


_NAMES = {f.name for f in fields(Settings)} - {"algorithms"}


@contextmanager
def override(**changes):
    """Within the block, the given settings replace the current ones, process-wide.

    Settings are Settings' fields (profile="gpu", tuning={...}, poison=True, workspace_mb=0.1,
    ...); any other keyword names an op family of clconv.dispatch and forces its algorithm
    (conv_forward="winograd"); None there lets the dispatcher choose again.
    """
    global _generation
    plain = {k: v for k, v in changes.items() if k in _NAMES}
    forced = {k: v for k, v in changes.items() if k not in _NAMES}
    for family, name in forced.items():
        _check_algorithm(family, name)
    with _lock:
        base = current()
        algorithms = dict(base.algorithms)
        for family, name in forced.items():
            if name is None:
                algorithms.pop(family, None)
            else:
                algorithms[family] = name
        if "tuning" in plain and plain["tuning"] is not None:
            plain["tuning"] = MappingProxyType(dict(plain["tuning"]))
        settings = replace(base, algorithms=MappingProxyType(algorithms), **plain)
        _validate(settings, "override")
        _stack.append(settings)
        _generation += 1
    try:
        yield settings
    finally:
        with _lock:
            del _stack[max(i for i, s in enumerate(_stack) if s is settings)]
            _generation += 1
