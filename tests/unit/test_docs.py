"""The README's settings table is the one the code generates."""

from pathlib import Path

from jenkins_codeartifact.cli import options

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_settings_table_matches_the_code():
    text = README.read_text(encoding="utf-8")
    assert options.markdown_table() in text, "run: python -m jenkins_codeartifact.cli.options, paste into README.md"


def test_readme_gives_the_two_setup_commands_first():
    text = README.read_text(encoding="utf-8")
    assert text.index("make demo") < text.index("## `ca-publish`")
    assert "make test" in text.split("## `ca-publish`")[0]
