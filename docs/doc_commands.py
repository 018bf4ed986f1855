"""The commands the README and docs show, found, run and their shown output regenerated.

A fenced block opened with ```` ```console ```` holds commands (lines starting with ``$ ``, joined
over trailing backslashes) each followed by its output. ``tests/test_docs.py`` runs every such
command on small inputs and checks its exit code; ``python docs/regenerate.py`` runs them as
written and puts their real output back into the files, so shown output is never pasted by hand.
Commands run from a scratch folder holding the checkout's ``configs/`` and ``tests/fixtures/``, so
paths in the docs are those of a checkout. ``make`` lines are not run here: CI runs ``make test``
and ``make run`` is ``squeeze-lab study configs/default.toml``, shown and run elsewhere.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
FENCE = re.compile(r"^```console\n(.*?)^```\n", re.S | re.M)
#: Width the outputs are rendered at (rich reads COLUMNS).
COLUMNS = "120"


@dataclass(frozen=True)
class Command:
    """One ``$`` line of a console block: where it is, its argv, the output shown under it."""

    path: Path
    line: int
    text: str
    shown: str
    raw: str

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.text)

    @property
    def expects_error(self) -> bool:
        return ": error: " in self.shown

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}: $ {self.text}"


def _split(block: str, path: Path, first_line: int) -> list[Command]:
    out: list[Command] = []
    lines = block.splitlines()
    i = 0
    while i < len(lines):
        if not lines[i].startswith("$ "):
            i += 1
            continue
        start, text = i, lines[i][2:]
        while text.endswith("\\") and i + 1 < len(lines):
            i += 1
            text = text[:-1].rstrip() + " " + lines[i].strip()
        raw = "\n".join(lines[start:i + 1])
        i += 1
        shown = []
        while i < len(lines) and not lines[i].startswith("$ "):
            shown.append(lines[i])
            i += 1
        out.append(Command(path, first_line + start, text.strip(), "\n".join(shown), raw))
    return out


def commands(paths: tuple[Path, ...] = DOCS) -> list[Command]:
    """Every ``$`` command of every console block, in file order."""
    found: list[Command] = []
    for path in paths:
        text = path.read_text()
        for m in FENCE.finditer(text):
            first = text.count("\n", 0, m.start(1)) + 1
            found += [c for c in _split(m.group(1), path, first) if c.argv[0] != "make"]
    return found


PYTHON = re.compile(r"^```python\n(.*?)^```\n", re.S | re.M)


def python_blocks(paths: tuple[Path, ...] = DOCS) -> list[tuple[str, str]]:
    """Every ``python`` block as (``file:line``, source): each one is a script that runs alone."""
    found = []
    for path in paths:
        text = path.read_text()
        for m in PYTHON.finditer(text):
            line = text.count("\n", 0, m.start(1)) + 1
            found.append((f"{path.relative_to(ROOT)}:{line}", m.group(1)))
    return found


SHELL = re.compile(r"^( *)```bash\n(.*?)^\1```\n", re.S | re.M)


@dataclass(frozen=True)
class ShellLine:
    """One line of a ``bash`` block (set-up steps shown without output), joined over backslashes."""

    path: Path
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}: {self.text}"


def shell_lines(paths: tuple[Path, ...] = DOCS) -> list[ShellLine]:
    """Every command line of every ``bash`` block (comment lines dropped), in file order."""
    found: list[ShellLine] = []
    for path in paths:
        text = path.read_text()
        for m in SHELL.finditer(text):
            first = text.count("\n", 0, m.start(2)) + 1
            lines = [ln.strip() for ln in m.group(2).splitlines()]
            i = 0
            while i < len(lines):
                start, cmd = i, lines[i]
                while cmd.endswith("\\") and i + 1 < len(lines):
                    i += 1
                    cmd = cmd[:-1].rstrip() + " " + lines[i]
                i += 1
                if cmd and not cmd.startswith("#"):
                    found.append(ShellLine(path, first + start, cmd))
    return found


def scratch(folder: Path) -> Path:
    """A working folder as the docs assume it: the checkout's configs/, tests/fixtures/ and
    docs/examples/ (linked, read only by the commands)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("configs", "tests/fixtures", "docs/examples"):
        link = folder / name
        if not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(ROOT / name)
    return folder


def run(cmd: Command, cwd: Path, extra: str = "", timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Run one documented command through bash in ``cwd``, with this interpreter's ``squeeze-lab``
    and ``python`` first on PATH; ``extra`` is appended to the command line."""
    bindir = str(Path(sys.executable).parent)
    env = {**os.environ, "COLUMNS": COLUMNS, "NO_COLOR": "1", "TERM": "dumb",
           "PATH": bindir + os.pathsep + os.environ.get("PATH", "")}
    return subprocess.run(["bash", "-c", f"{cmd.text} {extra}".rstrip()], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
