"""Every recipe parses: class paths import, every key exists, every value has the right type."""

import pytest

from conftest import RECIPES
from sslkit.cli import SSLKitCLI

# recipes of other subcommands start with "# sslkit <command>" (parsed in tests/transfer/test_commands.py)
ALL = sorted(p for p in RECIPES.rglob("*.yaml") if "_base" not in p.parts
             and not (p.read_text().startswith("# sslkit ") and not p.read_text().startswith("# sslkit fit")))


def test_there_are_recipes():
    assert any(p.match("pretrain/digits/simclr.yaml") for p in ALL)


@pytest.mark.parametrize("recipe", ALL, ids=[str(p.relative_to(RECIPES)) for p in ALL])
def test_recipe_parses(recipe, capsys):
    with pytest.raises(SystemExit) as exit_info:
        SSLKitCLI(args=["fit", "--config", str(recipe), "--print_config"])
    assert exit_info.value.code in (0, None), capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "class_path" in printed and "model:" in printed and "data:" in printed
