"""The install lines docs/sweeps.md shows work as written, and the wheel holds one import package.

The checkout is copied (so a build leaves nothing in it) and the docs' own lines run there:
``pip wheel`` builds the wheel; ``pip install 'dist/…whl[dask]'`` and ``pip install -e '.[dask]'``
each install into a fresh venv whose path also lists this environment's site-packages, so the
dependencies are already there and the installs need no index. A plain path entry does not run
that folder's ``.pth`` files, so this checkout's editable install stays invisible: the study runs
the wheel's own code and packaged configs. ``pip`` on PATH is a shim for this interpreter's pip
aimed at the fresh venv (``pip --python``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
from test_cli_run import SMALL
from test_docs import doc_commands

ROOT = Path(__file__).resolve().parents[1]
#: What a build or install needs from the checkout (no venv, no git, no runs).
SKIP = shutil.ignore_patterns(".venv", ".git", "runs", "build", "dist", "*.egg-info", "__pycache__",
                              ".pytest_cache", ".hypothesis", ".ruff_cache")


def fresh_venv(where: Path) -> tuple[Path, Path]:
    """A venv without pip that sees this environment's site-packages (dependencies) by path."""
    venv.EnvBuilder(with_pip=False).create(where)
    py = where / "bin" / "python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "parent_site.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return py, site


def run_doc_line(prefix: str, cwd: Path, target_python: Path, **env: str) -> None:
    """Run the docs' one shell line starting with ``prefix`` in ``cwd``, its ``pip`` aimed at a venv."""
    (line,) = [s for s in doc_commands.shell_lines() if s.text.startswith(prefix)]
    shim = cwd.parent / f"shim-{target_python.parent.parent.name}"
    shim.mkdir(exist_ok=True)
    (shim / "pip").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m pip --python "{target_python}" "$@"\n')
    (shim / "pip").chmod(0o755)
    res = subprocess.run(["bash", "-c", line.text], cwd=cwd, capture_output=True, text=True,
                         env={**os.environ, **env, "PATH": f"{shim}{os.pathsep}{os.environ['PATH']}"})
    assert res.returncode == 0, f"{line}\n{res.stderr[-2000:]}"


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    copy = tmp_path_factory.mktemp("install") / "squeeze-lab"
    shutil.copytree(ROOT, copy, ignore=SKIP, symlinks=True)
    return copy


@pytest.fixture(scope="module")
def wheel_env(checkout: Path) -> tuple[Path, Path]:
    py, site = fresh_venv(checkout.parent / "venv")
    run_doc_line("pip wheel ", checkout, py)
    run_doc_line("pip install 'dist/", checkout, py, PIP_NO_INDEX="1")
    return checkout.parent / "venv", site


def test_wheel_installs_only_squeeze_lab(wheel_env) -> None:
    env_dir, site = wheel_env
    installed = sorted(p.name for p in site.iterdir() if not p.name.endswith(".pth"))
    assert [n for n in installed if not n.endswith(".dist-info")] == ["squeeze_lab"]
    assert (site / "squeeze_lab" / "configs" / "default.toml").is_file()
    assert (site / "squeeze_lab" / "tearsheet" / "templates" / "tearsheet.html").is_file()
    assert (env_dir / "bin" / "squeeze-lab").is_file()


@pytest.mark.slow
def test_wheel_study_from_an_empty_folder(wheel_env, tmp_path: Path) -> None:
    env_dir, site = wheel_env
    work = tmp_path / "empty"
    work.mkdir()
    py = env_dir / "bin" / "python"
    where = subprocess.run([str(py), "-c", "import squeeze_lab; print(squeeze_lab.__file__)"],
                           cwd=work, check=True, capture_output=True, text=True).stdout.strip()
    assert Path(where).parent == site / "squeeze_lab"
    res = subprocess.run([str(env_dir / "bin" / "squeeze-lab"), "study", *SMALL], cwd=work,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    folders = sorted(p for p in (work / "runs").iterdir() if p.is_dir())
    assert len(folders) >= 2 and all((f / "metrics.json").is_file() for f in folders)


def test_editable_install_line(checkout: Path, tmp_path: Path) -> None:
    py, site = fresh_venv(tmp_path / "venv")
    run_doc_line("pip install -e ", checkout, py)
    res = subprocess.run([str(py), "-c", "import squeeze_lab.pipeline.sweep as s; print(s.__file__)"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert Path(res.stdout.strip()).is_relative_to(checkout)
