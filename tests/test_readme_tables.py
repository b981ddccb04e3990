"""The README's results tables equal the results files the commands wrote (benchmarks/readme_tables.py)."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("readme_tables", ROOT / "benchmarks" / "readme_tables.py")
readme_tables = importlib.util.module_from_spec(spec)
spec.loader.exec_module(readme_tables)


def test_readme_results_blocks_equal_their_files():
    readme = (ROOT / "README.md").read_text()
    assert readme.count("<!-- results: ") >= 3
    assert readme_tables.render(readme) == readme, "run python benchmarks/readme_tables.py"


def test_docs_results_blocks_equal_their_files():
    docs = [p for p in sorted((ROOT / "docs").rglob("*.md")) if "<!-- results: " in p.read_text()]
    assert any(p.name == "transfer.md" for p in docs)
    for page in docs:
        text = page.read_text()
        assert readme_tables.render(text, page.parent) == text, f"run python benchmarks/readme_tables.py --readme {page}"


def test_a_hand_edited_cell_is_caught(tmp_path):
    res = tmp_path / "r.md"
    res.write_text("# title\n\nmain: accuracy\n\n| a | b |\n|---|---|\n| x | 1.0 |\n\nnote\n\n| c |\n|---|\n| 2 |\n")
    good = "intro\n<!-- results: r.md -->\nmain: accuracy\n\n| a | b |\n|---|---|\n| x | 1.0 |\n\nnote\n\n| c |\n|---|\n| 2 |\n<!-- /results -->\nend\n"
    (tmp_path / "README.md").write_text(good)
    assert readme_tables.main(["--readme", str(tmp_path / "README.md"), "--check"]) == 0
    (tmp_path / "README.md").write_text(good.replace("| x | 1.0 |", "| x | 9.9 |"))
    assert readme_tables.main(["--readme", str(tmp_path / "README.md"), "--check"]) == 1
    readme_tables.main(["--readme", str(tmp_path / "README.md")])
    assert (tmp_path / "README.md").read_text() == good
