"""The parameter facts exist once: docs/configuration.md, ``--help``, the backtrader params and the
validation all come from strategies/spec.py, and agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from squeeze_lab import run_backtest
from squeeze_lab.feeds.errors import SqueezeLabError
from squeeze_lab.pipeline.config import Config, resolve_config
from squeeze_lab.strategies.bt_strategy import SqueezeBook
from squeeze_lab.strategies.overlay import ACTIONS
from squeeze_lab.strategies.signals import SIGNAL_MODES
from squeeze_lab.strategies.spec import BOOK, OVERLAY, SECTIONS, configuration_markdown

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def test_configuration_doc_is_generated_from_the_spec() -> None:
    assert DOC.read_text() == configuration_markdown(), (
        "docs/configuration.md is stale: run make docs")
    for name, section in SECTIONS.items():
        for p in section.params:
            assert f"| `{p.name}` |" in DOC.read_text(), f"{name}.{p.name}"


def test_help_lists_every_key_with_its_default(capsys) -> None:
    with pytest.raises(SystemExit):
        run_backtest.main(["--help"])
    text = capsys.readouterr().out
    for section in SECTIONS.values():
        assert f"[{section.name}]" in text
        for p in section.params:
            assert f"  {p.name} = {p.default_text()}  # " in text, f"{section.name}.{p.name}"


def test_backtrader_params_are_the_spec() -> None:
    bt_params = dict(SqueezeBook.params._gettuple())
    for section in (BOOK, OVERLAY):
        for name, default in section.bt_params():
            assert name in bt_params and bt_params[name] == default, name
    assert set(OVERLAY.param("actions").choices) == set(ACTIONS)
    assert tuple(OVERLAY.param("signal_mode").choices) == tuple(SIGNAL_MODES)


def test_resolved_config_is_frozen_and_typed() -> None:
    cfg = resolve_config({"book": {"gross": 3}, "data": {"start": "2025-01-02"}})
    assert isinstance(cfg, Config) and cfg.book.gross == 3.0 and isinstance(cfg.book.gross, float)
    assert cfg["book"]["gross"] == cfg.book.gross and dict(**cfg.book)["gross"] == 3.0
    with pytest.raises(AttributeError):
        cfg.book.gross = 1.0  # type: ignore[misc]
    with pytest.raises(AttributeError):
        cfg.name = "x"  # type: ignore[misc]
    assert cfg.to_dict()["book"]["gross"] == 3.0
    assert cfg.replace(book={"gross": 1.5}).book.gross == 1.5
    with pytest.raises(SqueezeLabError, match="gross"):
        cfg.replace(book={"gross": -1})


def test_every_default_validates() -> None:
    for section in SECTIONS.values():
        resolved = section.resolve({})
        for p in section.params:
            assert p.validate(p.default, section.name) == resolved[p.name]
