"""The docs stay true: every configuration key is documented, the two commands are there."""

from __future__ import annotations

from pathlib import Path

from squeeze_lab.strategies.spec import SECTIONS

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_config_key_is_documented() -> None:
    """Every key is in docs/configuration.md (generated from strategies/spec.py; tests/test_spec.py
    proves it is current)."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "configuration.md").read_text()
    missing = [f"{name}.{key}" for name, section in SECTIONS.items()
               for key in section.names if f"## [{name}]" not in doc or f"| `{key}` |" not in doc]
    assert not missing, f"regenerate docs/configuration.md: {missing}"


def test_readme_gives_the_two_commands() -> None:
    assert "make run" in README and "make test" in README
