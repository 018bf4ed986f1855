"""Terminal output: --quiet hides progress and tables, never a note that changes a result."""

from __future__ import annotations

from squeeze_lab.pipeline.ui import UI


def test_quiet_hides_tables_but_not_notes(capsys) -> None:
    ui = UI(quiet=True)
    ui.print("a table row")
    ui.note("dropped 2 ticker(s) with no prices")
    with ui.progress("loading", total=3) as advance:
        advance(1, 3)
    out, err = capsys.readouterr()
    assert out == ""
    assert err.strip() == "note: dropped 2 ticker(s) with no prices"


def test_loud_prints_both(capsys) -> None:
    ui = UI(quiet=False)
    ui.print("a table row")
    ui.note("used a stale cache")
    out, err = capsys.readouterr()
    assert "a table row" in out and "note: used a stale cache" in err
