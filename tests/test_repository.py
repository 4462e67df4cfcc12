"""The repository keeps its word: every pytest marker it declares is used, every marker used is
declared, and every `make` target its documents name exists."""
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = ["README.md", "Makefile", "pyproject.toml", ".ci/run", "benchmarks/RESULTS.md"]


def test_declared_markers_are_used_and_used_markers_declared():
    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    declared = {m.split(":")[0].strip() for m in options.get("markers", [])}
    used = set()
    for test in (ROOT / "tests").glob("*.py"):
        used |= set(re.findall(r"pytest\.mark\.(\w+)", test.read_text()))
    builtin = {"parametrize", "skipif", "skip", "xfail", "usefixtures", "filterwarnings"}
    assert used - builtin == declared


def test_every_make_target_named_exists():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([\w-]+)(?:\s+[\w-]+)*\s*:", makefile, re.MULTILINE))
    named = set()
    for document in DOCUMENTS:
        text = (ROOT / document).read_text()
        named |= set(re.findall(r"`make ([\w-]+)", text))  # `make test` in prose
        named |= set(re.findall(r"^#\s+make ([\w-]+)", text, re.MULTILINE))  # the Makefile's index
    for line in (ROOT / ".ci/run").read_text().splitlines():
        if line.startswith("for target in"):
            named |= set(line.split(" in ", 1)[1].split(";")[0].split())
    assert named and named <= targets, f"missing: {sorted(named - targets)}"
