"""The tuning table: every kernel's blocking, vector width, work-group shape and the thresholds of
each algorithm choice, as data.

    clconv.tuning.entry(device.profile)["conv_forward"]["direct"]

One table ships in the wheel (clconv/tuning.json); `CLCONV_TUNING` names a file of the same
layout (`python -m clconv tune` writes one) laid over it. An entry is looked up as CLBlast's
database is: device kind ("cpu", "gpu") -> vendor (the profile's vendor_key: "pocl",
"nvidia", "amd", "intel", ...) -> device, with a "default" at every level. The device level is
tried from the most general key to the most specific (Profile.tuning_keys: "isa:avx2",
"target:haswell", the device's name, "name | driver version"); every level found is laid over
the one before, key by key, so an entry need only hold what it changes. Below everything lie the
defaults each op family derives from the profile (`register_defaults`), so that a device the
table has never seen still gets blocking that fits its registers and local memory.

An entry maps op family -> {"order": [algorithm names, preferred first], algorithm -> its
parameters}. `config.override(tuning={...})` lays one more entry over the result (the tuner
tries each candidate so).
"""
from __future__ import annotations

import copy
import json
import os
from importlib import resources
from typing import Callable

from . import config
from .profile import Profile

_defaults: dict[str, Callable[[Profile], dict]] = {}


def register_defaults(family: str, derive: Callable[[Profile], dict]) -> None:
    """`derive(profile)` gives `family`'s parameters for a device the table has no entry for."""
    _defaults[family] = derive


def merge(base: dict, over: dict) -> dict:
    """`over` laid over `base`: dictionaries merged key by key, anything else replaced."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


_tables: dict = {}


def shipped() -> dict:
    """clconv/tuning.json as shipped."""
    if "shipped" not in _tables:
        _tables["shipped"] = json.loads(resources.files("clconv").joinpath("tuning.json").read_text())
    return _tables["shipped"]


def table() -> dict:
    """The shipped table with the CLCONV_TUNING file laid over it."""
    path = config.current().tuning_file
    key = ("table", path, os.path.getmtime(path) if path and os.path.exists(path) else None)
    if key not in _tables:
        result = shipped()
        if path:
            if not os.path.exists(path):
                raise FileNotFoundError(f"CLCONV_TUNING={path!r}: no such file")
            with open(path) as stream:
                try:
                    user = json.load(stream)
                except json.JSONDecodeError as err:
                    raise ValueError(f"CLCONV_TUNING={path!r} is not valid JSON: {err}") from None
            result = merge(result, {k: v for k, v in user.items() if k in ("cpu", "gpu")})
        _tables[key] = result
    return _tables[key]


def levels(profile: Profile) -> list[tuple[str, dict]]:
    """The table's entries for `profile`, most general first, each with where it came from."""
    found = []
    by_kind = table().get(profile.kind, {})
    if "default" in by_kind:
        found.append((f"{profile.kind}/default", by_kind["default"]))
    by_vendor = by_kind.get(profile.vendor_key, {})
    for key in ["default"] + profile.tuning_keys():
        if key in by_vendor:
            found.append((f"{profile.kind}/{profile.vendor_key}/{key}", by_vendor[key]))
    return found


def derived(profile: Profile) -> dict:
    """What the op families derive from the profile alone."""
    return {family: derive(profile) for family, derive in _defaults.items()}


_entries: dict = {}


def entry(profile: Profile) -> dict:
    """The parameters every op family uses on a device of this profile (see the module's
    docstring); memoized per profile and settings."""
    settings = config.current()
    key = (profile, config.generation())
    result = _entries.get(key)
    if result is None:
        result = derived(profile)
        for _, level in levels(profile):
            result = merge(result, {k: v for k, v in level.items() if not k.startswith("about")})
        if settings.tuning:
            result = merge(result, dict(settings.tuning))
        if len(_entries) > 64:
            _entries.clear()
        _entries[key] = result
    return result


def sources(profile: Profile) -> list[str]:
    """Where `entry(profile)` comes from, for `python -m clconv devices`: the levels found and
    their "about" notes."""
    out = ["derived from the profile"]
    for where, level in levels(profile):
        about = level.get("about")
        out.append(f"{where}" + (f": {about}" if isinstance(about, str) else ""))
    return out


def forget() -> None:
    """Drop the memoized tables and entries (after the shipped file changed)."""
    _tables.clear()
    _entries.clear()
