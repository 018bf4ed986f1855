"""Run every command the README and docs show, as written, and put its real output under it.

    python docs/regenerate.py [FILE ...]

Runs in a scratch folder (see ``doc_commands.scratch``); a command whose exit code does not match
what its block shows (an ``error:`` line means exit 2) stops the script.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from doc_commands import DOCS, ROOT, commands, run, scratch  # noqa: E402


def main(argv: list[str]) -> int:
    paths = tuple(Path(a).resolve() for a in argv) or DOCS
    with tempfile.TemporaryDirectory() as tmp:
        work = scratch(Path(tmp))
        for path in paths:
            text = path.read_text()
            for cmd in commands((path,)):
                res = run(cmd, work)
                want = 2 if cmd.expects_error else 0
                if res.returncode != want:
                    sys.stderr.write(f"{cmd}: exit {res.returncode}, expected {want}\n{res.stderr}")
                    return 1
                output = (res.stdout + res.stderr).rstrip("\n").replace(str(work) + "/", "")
                old = f"{cmd.raw}\n{cmd.shown}\n" if cmd.shown else f"{cmd.raw}\n"
                new = f"{cmd.raw}\n{output}\n" if output else f"{cmd.raw}\n"
                print(f"{cmd}: exit {res.returncode}, {len(output.splitlines())} lines")
                text = text.replace(old, new, 1)
            path.write_text(text)
    print(f"regenerated {', '.join(str(p.relative_to(ROOT)) for p in paths)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
