"""Copy the tables of results files into the README (never typed by hand).

A README block ``<!-- results: benchmarks/results/NAME.md -->`` ... ``<!-- /results -->``
is replaced by the markdown tables of that file, each with the caption line
that stands right above it in the file (when it is not a heading). The files
are written by the commands that measured them (``sslkit label-efficiency``,
``sslkit cross-domain``, ``benchmarks/text_peft.py``, ...). Run after a
measurement::

    python benchmarks/readme_tables.py            # rewrite README.md
    python benchmarks/readme_tables.py --check    # exit 1 if the README differs from the files

``tests/test_readme_tables.py`` runs the check, so a hand-edited number fails CI.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"(<!-- results: (?P<path>[^ ]+) -->\n)(?P<body>.*?)(<!-- /results -->)", re.S)


def tables(text: str) -> str:
    """The markdown tables of ``text``, each with its caption line (the non-heading line just above it)."""
    lines, out, i = text.splitlines(), [], 0
    while i < len(lines):
        if lines[i].startswith("|"):
            j = i
            while j < len(lines) and lines[j].startswith("|"):
                j += 1
            k = i - 1
            while k >= 0 and not lines[k].strip():
                k -= 1
            caption = lines[k] if k >= 0 and not lines[k].startswith(("#", "|")) else None
            out.append(([caption, ""] if caption else []) + lines[i:j])
            i = j
        else:
            i += 1
    return "\n\n".join("\n".join(t) for t in out)


def render(readme: str, root: Path = ROOT) -> str:
    """``readme`` with every results block refilled from its file."""
    def fill(m: re.Match) -> str:
        path = root / m["path"]
        if not path.is_file():
            raise SystemExit(f"README names {m['path']}, which does not exist: run the command that writes it, "
                             "or remove the block")
        return f"{m.group(1)}{tables(path.read_text())}\n{m.group(4)}"

    return BLOCK.sub(fill, readme)


def main(args: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--readme", default=str(ROOT / "README.md"))
    p.add_argument("--check", action="store_true", help="only compare; exit 1 when the README differs")
    ns = p.parse_args(args)
    readme = Path(ns.readme)
    old = readme.read_text()
    new = render(old, readme.resolve().parent)
    if ns.check:
        if new != old:
            print(f"{readme}: a results table differs from its file; run python benchmarks/readme_tables.py")
            return 1
        return 0
    readme.write_text(new)
    print(f"rewrote {len(BLOCK.findall(old))} results blocks in {readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
