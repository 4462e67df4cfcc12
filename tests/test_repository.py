"""The repository keeps its word: every pytest marker it declares is used, every marker used is
declared, every `make` target its documents name exists, and its tools read compiler output
right."""
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


def test_gpu_compile_counts_the_hot_loops_multiply_adds_and_loads():
    # tools/gpu_compile.py --evidence: the innermost loop with the most multiply-adds, its
    # global and local loads, in NVPTX and gfx90a code (a loop: a branch back to a label)
    import sys
    sys.path.insert(0, str(ROOT / "tools"))
    import gpu_compile as g
    ptx = """
.entry k(
\tld.param.u64 %rd1, [p];
$L__BB0_1:
\tld.global.f32 %f1, [%rd1];
$L__BB0_2:
\tld.shared.f32 %f2, [%r1];
\tfma.rn.f32 %f3, %f1, %f2, %f3;
\tfma.rn.f32 %f4, %f1, %f2, %f4;
\t@%p1 bra $L__BB0_2;
\tld.global.nc.v4.f32 {%f5, %f6, %f7, %f8}, [%rd2];
\t@%p2 bra $L__BB0_1;
\tret;
}
"""
    assert g.ptx_loops(ptx) == {"k": {"loop_fma": 2, "loop_global_loads": 0,
                                      "loop_local_loads": 1}}
    amd = """
k:                                      ; @k
\ts_load_dwordx2 s[0:1], s[4:5], 0x0
.LBB0_1:
\tglobal_load_dwordx4 v[0:3], v[4:5], off
\tds_read_b128 v[6:9], v10
\tv_fmac_f32_e32 v11, v0, v6
\tv_pk_fma_f32 v[12:13], v[0:1], v[6:7], v[12:13]
\ts_cbranch_scc1 .LBB0_1
\ts_endpgm
.Lfunc_end0:
"""
    assert g.amd_loops(amd) == {"k": {"loop_fma": 3, "loop_global_loads": 1,
                                      "loop_local_loads": 1}}
    assert g.ptx_loops(".entry flat(\n\tret;\n}\n")["flat"]["loop_fma"] is None
