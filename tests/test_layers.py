"""The layering rules of README.md's architecture section, checked on the source (ast): every
import in clconv/, module-level or inside a function, is an edge of the graph.

    shapes                      plain Python shape rules; imports nothing from clconv
    runtime layer               config, profile, runtime (device, profile, allocation, build,
                                launch): imports only itself and shapes; the only place pyopencl
                                is imported
    autograd                    imports only the runtime layer
    tensors                     imports only autograd and the runtime layer
    reference                   imports only shapes
    ops (clconv.ops.*)          never functional, fused, optable, nn, optim, bench, the command line
    the library                 never bench or the command line (__main__, tune)
    everywhere                  no _private name of another package
"""
import ast
from pathlib import Path

import pytest

import clconv

PACKAGE = Path(clconv.__file__).parent
RUNTIME_LAYER = {"clconv.config", "clconv.profile", "clconv.runtime"}
SHAPES = {"clconv.shapes"}
COMMAND_LINE = {"clconv.__main__", "clconv.tune", "clconv.bench"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module: str, is_package: bool, level: int, name: str | None) -> str:
    if not level:
        return name or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[:len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _imports(path: Path):
    """(imported module, names taken from it, line) for every import in `path`."""
    module = _module_name(path)
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, (), node.lineno
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, is_package, node.level, node.module)
            yield target, tuple(a.name for a in node.names), node.lineno


SOURCES = sorted(PACKAGE.rglob("*.py"))
GRAPH = {_module_name(p): list(_imports(p)) for p in SOURCES}


def _within(name: str, group: set) -> bool:
    return any(name == g or name.startswith(g + ".") for g in group)


def _clconv_imports(module: str):
    for target, names, line in GRAPH[module]:
        if target == "clconv" and names:  # `from clconv import x` / `from . import x`
            for n in names:
                yield f"clconv.{n}", line
        elif target.startswith("clconv"):
            yield target, line


def _violations(modules, allowed) -> list[str]:
    return [f"{m}:{line} imports {t}" for m in modules for t, line in _clconv_imports(m)
            if not _within(t, allowed | {m})]


def test_the_sources_are_found():
    assert {"clconv.runtime", "clconv.autograd", "clconv.ops.conv", "clconv.reference"} <= set(GRAPH)


def test_the_runtime_layer_imports_only_itself():
    layer = [m for m in GRAPH if _within(m, RUNTIME_LAYER)]
    assert "clconv.runtime.enqueue" in layer
    assert _violations(layer, RUNTIME_LAYER | SHAPES) == []


def test_only_the_runtime_layer_imports_pyopencl():
    found = [f"{m}:{line}" for m, edges in GRAPH.items() for t, _, line in edges
             if t.split(".")[0] == "pyopencl" and not _within(m, RUNTIME_LAYER)]
    assert found == []


def test_autograd_imports_only_the_runtime_layer():
    assert _violations({"clconv.autograd"}, RUNTIME_LAYER | SHAPES) == []


def test_tensors_import_only_autograd_and_the_runtime_layer():
    # (Tensor's + and .to are ops: clconv.functional and clconv.ops.storage provide them.)
    assert _violations({"clconv.tensors"}, RUNTIME_LAYER | SHAPES | {"clconv.autograd"}) == []


def test_the_reference_imports_only_shape_helpers():
    reference = [m for m in GRAPH if _within(m, {"clconv.reference"})]
    assert _violations(reference, SHAPES | {"clconv.reference"}) == []


@pytest.mark.parametrize("upper", ["clconv.functional", "clconv.fused", "clconv.optable",
                                   "clconv.nn", "clconv.optim", *sorted(COMMAND_LINE)])
def test_ops_never_import_the_layers_above(upper):
    ops = [m for m in GRAPH if _within(m, {"clconv.ops"})]
    found = [f"{m}:{line}" for m in ops for t, line in _clconv_imports(m) if _within(t, {upper})]
    assert found == []


def test_the_library_never_imports_bench_or_the_command_line():
    library = [m for m in GRAPH if not _within(m, COMMAND_LINE)]
    found = [f"{m}:{line} imports {t}" for m in library for t, line in _clconv_imports(m)
             if _within(t, COMMAND_LINE)]
    assert found == []


def _package_of(name: str) -> str:
    """The package a module (or a package's submodule) belongs to."""
    return name if name in GRAPH and (PACKAGE.parent / name.replace(".", "/")).is_dir() \
        else name.rpartition(".")[0]


def _crosses(user: str, module: str, name: str) -> bool:
    """Whether `user` taking the private `name` from `module` crosses a package boundary."""
    full = f"{module}.{name}"
    owner = full.rpartition(".")[0] if full in GRAPH else _package_of(module)
    return not (user == owner or user.startswith(owner + "."))


def _private_uses(path: Path):
    """`from other import _name` and `other._name` where `other` is a clconv module of another
    package (within a package, its modules share their private helpers)."""
    module = _module_name(path)
    tree = ast.parse(path.read_text())
    aliases = {}
    for target, names, line in _imports(path):
        if not target.startswith("clconv") or target == module:
            continue
        parts = target.split(".")
        for i, part in enumerate(parts):
            if part.startswith("_") and not part.startswith("__") and \
                    _crosses(module, ".".join(parts[:i]), part):
                yield f"{module}:{line} imports the private module {'.'.join(parts[:i + 1])}"
        for n in names:
            if n.startswith("_") and not n.startswith("__") and _crosses(module, target, n):
                yield f"{module}:{line} takes {target}.{n}"
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = _resolve(module, path.name == "__init__.py", node.level, node.module)
            for alias in node.names:
                if target.startswith("clconv"):
                    aliases[alias.asname or alias.name] = f"{target}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("clconv"):
                    aliases[alias.asname or alias.name] = alias.name
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.attr.startswith("_") and not node.attr.startswith("__")
                and node.value.id in aliases and aliases[node.value.id] in GRAPH
                and aliases[node.value.id] != module
                and _crosses(module, aliases[node.value.id], node.attr)):
            yield f"{module}:{node.lineno} uses {aliases[node.value.id]}.{node.attr}"


def test_no_private_name_crosses_a_package_boundary():
    found = [use for path in SOURCES for use in _private_uses(path)]
    assert found == []
