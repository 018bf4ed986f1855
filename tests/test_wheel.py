"""The built wheel installs one import package, ``squeeze_lab``, and works from an empty folder.

The wheel is installed without dependencies into a fresh venv whose path also lists this
environment's site-packages (the dependencies are already there). A plain path entry does not run
that folder's ``.pth`` files, so the editable install of this checkout stays invisible and the
study runs the wheel's own code and packaged configs.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
from test_cli_run import SMALL

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("wheel")
    dist = base / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "-w", str(dist), str(ROOT)], check=True, capture_output=True)
    (wheel,) = dist.glob("squeeze_lab-*.whl")
    env_dir = base / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "parent_site.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps",
                    "--target", str(site), str(wheel)], check=True, capture_output=True)
    return env_dir, site


def test_wheel_installs_only_squeeze_lab(wheel_env) -> None:
    _, site = wheel_env
    installed = sorted(p.name for p in site.iterdir() if not p.name.endswith(".pth"))
    assert [n for n in installed if not n.endswith(".dist-info") and n != "bin"] == ["squeeze_lab"]
    assert (site / "squeeze_lab" / "configs" / "default.toml").is_file()
    assert (site / "squeeze_lab" / "tearsheet" / "templates" / "tearsheet.html").is_file()


@pytest.mark.slow
def test_wheel_study_from_an_empty_folder(wheel_env, tmp_path: Path) -> None:
    env_dir, site = wheel_env
    work = tmp_path / "empty"
    work.mkdir()
    py = env_dir / "bin" / "python"
    where = subprocess.run([str(py), "-c", "import squeeze_lab; print(squeeze_lab.__file__)"],
                           cwd=work, check=True, capture_output=True, text=True).stdout.strip()
    assert Path(where).parent == site / "squeeze_lab"
    res = subprocess.run([str(py), "-m", "squeeze_lab", "study", *SMALL], cwd=work,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    folders = sorted(p for p in (work / "runs").iterdir() if p.is_dir())
    assert len(folders) >= 2 and all((f / "metrics.json").is_file() for f in folders)
