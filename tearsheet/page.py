"""Plumbing shared by the pages: reading a run folder, the jinja2 environment, embedding
figures and writing a page."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from ..feeds.errors import SqueezeLabError
from . import figures as F
from .formatting import DASH
from .rundir import RunData, read_run


def load_run(folder: str | Path | RunData) -> RunData:
    if isinstance(folder, RunData):
        return folder
    return read_run(folder, require_tearsheet=False)


def environment() -> Environment:
    env = Environment(loader=PackageLoader(__package__, "templates"), autoescape=select_autoescape(["html"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True)
    env.globals["DASH"] = DASH
    return env


def write_html(html: str, out: Path) -> Path:
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(html)
    except OSError as err:
        raise SqueezeLabError(f"cannot write {out}: {err.strerror or err}; pick a writable path") from err
    return out


@dataclass
class FigureOut:
    """One embedded figure (or the note saying why it is missing)."""

    anchor: str
    title: str
    caption: str
    src: str = ""
    width: int = 0
    height: int = 0
    note: str = ""


def embed(anchor: str, title: str, caption: str, fig: Any, missing: str) -> FigureOut:
    if fig is None:
        return FigureOut(anchor, title, caption, note=missing)
    src = F.png_data_uri(fig)
    w, h = F.png_size(src)
    return FigureOut(anchor, title, caption, src=src, width=w, height=h)
