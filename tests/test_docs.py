"""Every command the README and docs show runs, and ends as its block says (exit 0, or 2 where
the block shows an ``error:`` line). Commands on the scenario market run on a small one: the
shown output is regenerated at full size by ``python docs/regenerate.py``."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_cli_run import SMALL

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("doc_commands", ROOT / "docs" / "doc_commands.py")
doc_commands = importlib.util.module_from_spec(_spec)
sys.modules["doc_commands"] = doc_commands
_spec.loader.exec_module(doc_commands)

COMMANDS = doc_commands.commands()
#: Subcommands that build a market from the config: on the scenario they get SMALL appended.
BUILDS_A_MARKET = {"run", "study", "sweep", "market", "monitor", "stress"}


def small_args(cmd) -> str:
    argv = cmd.argv
    if argv[0] != "squeeze-lab" or len(argv) < 2 or argv[1] not in BUILDS_A_MARKET:
        return ""
    if any(a.startswith("csv:") or a == "yahoo" for a in argv) or cmd.expects_error:
        return ""
    if argv[1] == "market":
        return "--set data.n_names=80 --start 2025-03-03 --end 2026-02-27"
    return " ".join(a for a in SMALL if a != "--quiet")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return doc_commands.scratch(tmp_path_factory.mktemp("docs"))


def test_the_docs_show_commands() -> None:
    subs = {c.argv[1] for c in COMMANDS if c.argv[0] == "squeeze-lab" and len(c.argv) > 1}
    assert {"run", "compare", "market", "sweep"} <= subs, subs


@pytest.mark.parametrize("cmd", COMMANDS, ids=str)
def test_documented_command(cmd, workdir: Path) -> None:
    res = doc_commands.run(cmd, workdir, small_args(cmd), timeout=600)
    want = 2 if cmd.expects_error else 0
    assert res.returncode == want, f"{cmd}\n{res.stderr[-2000:]}"
    if want == 2:
        assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr


@pytest.mark.parametrize("where,source", doc_commands.python_blocks(), ids=lambda v: v[:40])
def test_documented_python(where: str, source: str, workdir: Path) -> None:
    res = subprocess.run([sys.executable, "-c", source], cwd=workdir, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, f"{where}\n{res.stderr[-2000:]}"


#: Each shell line the docs show (set-up steps, shown without output) and the test that runs it.
SHELL_TESTS = {"pip install -e ": "test_wheel.py", "pip wheel ": "test_wheel.py",
               "pip install 'dist/": "test_wheel.py", "dask scheduler ": "test_docs_cluster.py",
               "dask worker ": "test_docs_cluster.py", "squeeze-lab sweep ": "test_docs_cluster.py"}


def test_every_shell_line_is_run_by_a_test() -> None:
    lines = doc_commands.shell_lines()
    unrun = [str(s) for s in lines if not any(k in s.text for k in SHELL_TESTS)]
    assert lines and not unrun, f"add a test for these and list it in SHELL_TESTS: {unrun}"
    for k, test in SHELL_TESTS.items():
        assert sum(k in s.text for s in lines) == 1, k
        assert k.strip() in (ROOT / "tests" / test).read_text(), (k, test)


def test_readme_is_short() -> None:
    assert len((ROOT / "README.md").read_bytes()) <= 15_000


def test_links_resolve() -> None:
    broken = []
    for path in doc_commands.DOCS:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", path.read_text()):
            if not (path.parent / target).exists():
                broken.append(f"{path.relative_to(ROOT)} -> {target}")
    assert not broken, broken
