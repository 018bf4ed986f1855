"""The README stays true: every configuration key is documented, the two commands are there."""

from __future__ import annotations

from pathlib import Path

from squeeze_lab.strategies.spec import SECTIONS

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_config_key_is_in_the_readme() -> None:
    missing = [f"{name}.{key}" for name, section in SECTIONS.items()
               for key in section.names if f"`{name}.{key}`" not in README]
    assert not missing, f"document these keys in README.md: {missing}"


def test_readme_gives_the_two_commands() -> None:
    assert "make run" in README and "make test" in README
