"""The dispatcher: which algorithm runs each direction of each op family, chosen in one place.

An op family ("conv_forward", "conv_weight_grad", "max_pool_forward", "norm_backward", ...) has
algorithms, each an `Algorithm`: a name, an applicability test (can it compute this problem on
this device: shapes its kernel handles, buffers within the device's limits), a preference test
(should it, where it can: the tuning table's thresholds), its parameters, its workspace and its
launch. `choose()` takes the family's entry of the tuning table (clconv.tuning) for the device's
profile, tries its algorithms in the entry's "order" and takes the first that applies and is
preferred. `config.override(conv_forward="winograd")` (or CLCONV_ALGORITHMS) forces one, which
must still apply; the preference thresholds are then not asked.

    clconv.explain(F.conv2d, x, w, stride=2)   # what would run, with parameters and workspace
    with clconv.dispatch.recording() as made:   # what did run
        F.conv2d(x, w)
    made[0].algorithm                           # "winograd"

CLCONV_DEBUG=1 logs every choice (with the algorithms passed over and why).
"""
from __future__ import annotations

import inspect
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

from . import config, runtime, tuning
from .profile import Profile


@dataclass(frozen=True)
class Context:
    """What an algorithm's tests and launch see: the device, its profile (of the kind in force),
    the family's tuning entry and the algorithm's own parameters in it."""
    device: Any                     # runtime.Device
    profile: Profile
    algorithm: str
    family_entry: dict
    params: dict

    def sibling(self, algorithm: str) -> "Context":
        """The context of another algorithm of the same family (a fallback: a kernel whose
        built limits turn out below the work-group the algorithm launches)."""
        return Context(self.device, self.profile, algorithm, self.family_entry,
                       self.family_entry[algorithm])

    def lanes(self, dtype) -> int:
        """Lanes of the algorithm's explicit vectors for `dtype`: its `vector_bytes` parameter
        (else the profile's, one register) of elements; a power of two from 2 to 16."""
        lanes = self.params.get("vector_bytes", self.profile.vector_bytes) // np.dtype(dtype).itemsize
        return 1 << (max(2, min(16, int(lanes))).bit_length() - 1)

    def row_lanes(self, dtype, row: int) -> int:
        """lanes(dtype), or fewer where a row of `row` elements holds fewer: the largest power
        of two in it, 2 at least (kernels whose vectors run along short rows)."""
        return min(self.lanes(dtype), 1 << (max(2, row).bit_length() - 1))


def loop_reason(context: Context, iterations: int, what: str, body: int = 1) -> Optional[str]:
    """Why a kernel whose work-items loop `iterations` times cannot run on a device whose loops
    stop early (Profile.loop_limit), else None.

    Mesa's llvmpipe counts the iterations of all of a work-item's loops against one limit
    (gallivm's loop limiter is one counter per invocation, decremented at the end of every
    iteration of every loop, nested ones too), and leaves a register tile's loops rolled where
    their bodies are large: `body` is the iterations of inner loops that one outer iteration
    may run (the kernel's tile loops, counted as if none were unrolled). Measured on llvmpipe:
    conv_direct with 16x2 blocks went wrong past 3,456 channel-taps (about 17 per iteration),
    conv_backward_weight_pointwise with 4x6 tiles past 1,664 iterations (about 38)."""
    limit = context.profile.loop_limit
    if limit is None or iterations * body < limit:
        return None
    inner = f" with {body:,} inner iterations each" if body > 1 else ""
    return (f"{what} loops {iterations:,} times{inner}, past the {limit:,} iterations this "
            "device runs a work-item's loops")


def first_reason(*checks) -> Optional[str]:
    """The reason of the first (condition, reason) pair whose condition is false, else None:
    what an applicability or preference test returns."""
    return next((why for ok, why in checks if not ok), None)


@dataclass(frozen=True)
class Algorithm:
    family: str
    name: str
    run: Callable                                   # run(context, problem, *arguments)
    applies: Callable = lambda context, problem: None    # -> None, or why it cannot run
    prefers: Callable = lambda context, problem: None    # -> None, or why it should not
    params: Callable = lambda context, problem: {}       # -> what it would use, for explain
    workspace: Callable = lambda context, problem: 0     # -> scratch bytes
    about: str = ""


@dataclass(frozen=True)
class Choice:
    """One decision: `algorithm` of `family` for `problem`, why the ones before it were passed
    over, its parameters and its workspace in bytes."""
    family: str
    algorithm: str
    params: dict
    workspace_bytes: int
    passed_over: tuple = ()
    forced: bool = False
    problem: Any = None
    context: Any = field(default=None, repr=False, compare=False)
    implementation: Any = field(default=None, repr=False, compare=False)  # the Algorithm

    def __str__(self) -> str:
        params = ", ".join(f"{k}={v}" for k, v in self.params.items())
        text = f"{self.family}: {self.algorithm}" + (" (forced)" if self.forced else "")
        if params:
            text += f" [{params}]"
        if self.workspace_bytes:
            text += f", workspace {self.workspace_bytes:,} bytes"
        for name, why in self.passed_over:
            text += f"\n    not {name}: {why}"
        return text


_families: dict[str, dict[str, Algorithm]] = {}


def register(algorithm: Algorithm) -> Algorithm:
    """Add `algorithm` to its family (the family's default order is the registration order)."""
    _families.setdefault(algorithm.family, {})[algorithm.name] = algorithm
    return algorithm


def families() -> list[str]:
    return sorted(_families)


def algorithms(family: str) -> list[str]:
    return list(_families.get(family, {}))


def algorithm(family: str, name: str) -> Algorithm:
    """The algorithm `name` of `family`; ValueError naming the known ones otherwise."""
    known = _families.get(family)
    if known is None:
        raise ValueError(f"unknown op family {family!r}; families: {', '.join(families())}")
    if name not in known:
        raise ValueError(f"{family}: no algorithm {name!r}; it has {', '.join(sorted(known))}")
    return known[name]


def _check_override(family: str, name: Optional[str]) -> None:
    if family not in _families:
        raise TypeError(f"override: unknown setting or op family {family!r}; families: "
                        f"{', '.join(families())}")
    if name is not None:
        algorithm(family, name)


config.set_algorithm_check(_check_override)


def _context(device, profile: Profile, family: str, name: str) -> Context:
    entry = tuning.entry(profile).get(family, {})
    return Context(device, profile, name, entry, entry.get(name, {}))


_choices: dict = {}
_CHOICES_KEPT = 4096


runtime.on_clear_caches(_choices.clear)


def choose(family: str, device, problem) -> Choice:
    """The algorithm of `family` for `problem` on `device` (see the module's docstring);
    remembered per settings (every op asks on every call)."""
    key = (family, device, problem, config.generation())
    choice = _choices.get(key)
    if choice is None:
        if len(_choices) >= _CHOICES_KEPT:
            _choices.clear()
        choice = _choices[key] = _decide(family, device, problem)
    return choice


def _decide(family: str, device, problem) -> Choice:
    profile = device.profile
    settings = config.current()
    forced = settings.algorithm(family)
    if forced is not None:
        chosen = algorithm(family, forced)
        context = _context(device, profile, family, forced)
        why = chosen.applies(context, problem)
        if why is not None:
            raise ValueError(f"{family}: the forced algorithm {forced!r} cannot run this "
                             f"problem: {why}")
        return _choice(chosen, context, problem, (), True)
    entry = tuning.entry(profile).get(family, {})
    order = entry.get("order") or algorithms(family)
    passed = []
    for name in order:
        candidate = algorithm(family, name)
        context = _context(device, profile, family, name)
        why = candidate.applies(context, problem) or candidate.prefers(context, problem)
        if why is None:
            return _choice(candidate, context, problem, tuple(passed), False)
        passed.append((name, why))
    reasons = "; ".join(f"{name}: {why}" for name, why in passed)
    raise RuntimeError(f"{family}: no algorithm of {order} runs this problem on "
                       f"{device.name!r} ({reasons})")


def _choice(chosen: Algorithm, context: Context, problem, passed, forced) -> Choice:
    return Choice(chosen.family, chosen.name, dict(chosen.params(context, problem)),
                  int(chosen.workspace(context, problem)), passed, forced, problem, context,
                  chosen)


_recorders: list[list] = []


@contextmanager
def recording():
    """Within the block, every choice that runs is appended to the list it yields (tests assert
    which kernel path ran)."""
    made: list[Choice] = []
    _recorders.append(made)
    try:
        yield made
    finally:
        _recorders.remove(made)


def ran(choice: Choice) -> Choice:
    """Note that `choice` runs (recording(), the debug log): for callers that run a variant of
    the chosen algorithm themselves (conv.fused_conv)."""
    for made in _recorders:
        made.append(choice)
    if runtime.debugging():
        runtime.debug("%s", choice)
    return choice


def run(family: str, device, problem, *arguments):
    """Choose `family`'s algorithm for `problem` and run it on `arguments`."""
    choice = ran(choose(family, device, problem))
    return choice.implementation.run(choice.context, problem, *arguments)


# --- explain -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Explanation:
    """What an op would run: one Choice per direction (forward, and the gradients')."""
    op: str
    choices: tuple

    def __getitem__(self, family: str) -> Choice:
        for choice in self.choices:
            if choice.family == family:
                return choice
        raise KeyError(f"{self.op}: no choice for {family!r}; it has "
                       f"{', '.join(c.family for c in self.choices)}")

    @property
    def algorithm(self) -> str:
        """The first (forward) choice's algorithm."""
        return self.choices[0].algorithm if self.choices else "-"

    def __str__(self) -> str:
        if not self.choices:
            return f"{self.op}: one kernel per direction (nothing to choose)"
        return f"{self.op}:\n" + "\n".join(f"  {c}".replace("\n", "\n  ") for c in self.choices)


_explainers: dict = {}


def explains(*ops):
    """Decorator: the function explains these ops (it takes their arguments and returns a list
    of Choices without launching anything)."""
    def register_explainer(explainer):
        for op in ops:
            _explainers[inspect.unwrap(op)] = explainer
        return explainer
    return register_explainer


def explain(op, *args, **kwargs) -> Explanation:
    """What `op(*args, **kwargs)` would run on its device, without running it: for each
    direction (forward; input and weight gradients, ...) the algorithm, its parameters and
    workspace, and the algorithms passed over and why. Arguments are checked as the op checks
    them (the same errors)."""
    target = inspect.unwrap(op)
    name = getattr(op, "__name__", str(op))
    explainer = _explainers.get(target)
    if explainer is None:
        return Explanation(name, ())
    return Explanation(name, tuple(explainer(*args, **kwargs)))
