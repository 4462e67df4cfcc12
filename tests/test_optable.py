"""The op table (clconv.optable): every entry's sample cases forward and backward against the
reference, and the public functions agreeing with their entries."""
import ast
import inspect
from pathlib import Path

import pytest

import clconv
import clconv.functional as F
from clconv.optable import FUNCTIONAL, OPS, cases
from helpers import check_grad, check_op

CASES = cases()


@pytest.mark.parametrize("case", CASES, ids=str)
def test_case_forward_and_backward(device, rng, dtype, case):
    arguments = case.make(rng, dtype)
    check_op(case.op, case=case.id, **arguments)
    if "return_indices" in arguments:  # (the gradient flows through the values only)
        arguments.pop("return_indices")
    check_grad(rng, case.op, case=case.id, **arguments)


def test_every_op_has_cases_and_a_backward():
    for name, entry in OPS.items():
        assert entry.cases, f"{name} has no sample case"
        assert entry.backward is not None, f"{name} has no reference backward"
        parameters = inspect.signature(entry.reference).parameters
        assert set(entry.differentiable) <= set(parameters), name


@pytest.mark.parametrize("name", FUNCTIONAL)
def test_functional_op_is_a_def_with_the_reference_signature(name):
    public = getattr(F, name)
    assert public.__module__ == "clconv.functional" and public.__doc__
    own = inspect.signature(public, follow_wrapped=False)
    assert list(own.parameters) == list(inspect.signature(OPS[name].reference).parameters)
    assert inspect.unwrap(public) is inspect.unwrap(OPS[name].implementation)
    source = Path(F.__file__).read_text()
    defined = {node.name for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)}
    assert name in defined, f"grep 'def {name}' finds nothing in clconv/functional.py"


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_fused_ops_are_defs_of_their_entries(nd):
    public = getattr(clconv.fused, f"conv{nd}d")
    entry = OPS[f"fused_conv{nd}d"]
    own = inspect.signature(public, follow_wrapped=False)
    assert list(own.parameters) == list(inspect.signature(entry.reference).parameters)
    assert inspect.unwrap(public) is inspect.unwrap(entry.implementation)


def test_case_ids_are_unique_and_readable():
    ids = [str(case) for case in CASES]
    assert len(ids) == len(set(ids))
    assert all(case.id and " " not in case.id for case in CASES)
