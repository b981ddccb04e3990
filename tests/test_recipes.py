"""Every recipe parses: class paths import, every key exists, every value has the right type."""

import pytest

from conftest import RECIPES
from sslkit.cli import SSLKitCLI

# recipes of other subcommands start with "# sslkit <command>" (parsed in tests/transfer/test_commands.py)
ALL = sorted(p for p in RECIPES.rglob("*.yaml") if "_base" not in p.parts and p.parent != RECIPES / "data"
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


DATA = sorted((RECIPES / "data").glob("*.yaml"))


@pytest.mark.parametrize("data", DATA, ids=[p.name for p in DATA])
@pytest.mark.parametrize("recipe", ["simclr.yaml", "dae.yaml"])
def test_data_files_replace_a_recipes_data_and_keep_its_views(data, recipe, capsys):
    """recipes/data/*.yaml are DataModule specs for ``--data``: with a digits recipe they parse, and the recipe's views stay."""
    import yaml

    for args in ([], ["--data", str(data)]):
        with pytest.raises(SystemExit) as exit_info:
            SSLKitCLI(args=["fit", "--config", str(RECIPES / "pretrain/digits" / recipe), *args, "--print_config"])
        out = capsys.readouterr()
        assert exit_info.value.code in (0, None), out.err
        printed = yaml.safe_load(out.out)["data"]
        if not args:
            views = printed["init_args"]["views"]
    assert printed["class_path"] == yaml.safe_load(data.read_text())["class_path"]
    assert printed["init_args"]["views"] == views
    assert f"--data {data.relative_to(RECIPES.parent)}" in data.read_text()  # its header shows how to use it


def test_there_are_data_files():
    assert len(DATA) >= 4
