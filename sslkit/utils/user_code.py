"""User code named in recipes: import it from the working directory, and say in one line why it does not import.

``sslkit fit`` puts the working directory first on ``sys.path`` (as ``python -m`` does), so a recipe can name
``class_path: my_flip.FlipPrediction`` for a ``my_flip.py`` next to it. Before the CLI parses a recipe,
:func:`check_class_paths` imports every dotted ``class_path`` of its configs and arguments, so a class that does
not import stops with one line naming the module and the fix instead of a long usage text.
"""

from __future__ import annotations

import difflib
import importlib
import os
import re
import sys
from pathlib import Path
from typing import Any

_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")


class ClassImportError(ValueError):
    """A class named by a recipe or a checkpoint that cannot be imported; the message says why and what to do."""


def add_working_directory() -> None:
    """Put the working directory first on ``sys.path`` (as ``python -m`` does), once."""
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


def import_class(class_path: str) -> Any:
    """The object ``class_path`` (``package.module.Name``) names.

    Raises:
        ClassImportError: the module is not found (the message names the file to put in the working directory or
            on ``PYTHONPATH``), fails to import (its own error, first line), or lacks the name (with close names).
    """
    module, _, name = class_path.rpartition(".")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        missing = e.name or module
        if module == missing or module.startswith(missing + "."):  # the named module itself is not on the path
            file = missing.replace(".", os.sep) + (".py" if missing == module else "")
            fix = (f"run sslkit from the folder that holds {file}, or add that folder to PYTHONPATH; "
                   f"working directory: {os.getcwd()}")
        else:  # the module exists but imports a package that is not installed
            fix = f"{module} imports {missing!r}: install it (pip install ...) in this environment"
        raise ClassImportError(f"cannot import {class_path!r}: No module named {missing!r} ({fix})") from None
    except Exception as e:  # noqa: BLE001  (a syntax or runtime error in the user's module)
        where = f" ({e.filename}, line {e.lineno})" if isinstance(e, SyntaxError) else ""
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise ClassImportError(f"cannot import {class_path!r}: importing {module} raised "
                               f"{type(e).__name__}: {first}{where}") from None
    if not hasattr(mod, name):
        close = difflib.get_close_matches(name, [n for n in dir(mod) if not n.startswith("_")], n=1)
        hint = f"; did you mean {module}.{close[0]}?" if close else ""
        raise ClassImportError(f"cannot import {class_path!r}: module {module} ({getattr(mod, '__file__', '?')}) "
                               f"has no {name!r}{hint}")
    return getattr(mod, name)


def _config_class_paths(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["class_path"]] if isinstance(node.get("class_path"), str) else []
        return found + [p for v in node.values() for p in _config_class_paths(v)]
    if isinstance(node, list):
        return [p for v in node for p in _config_class_paths(v)]
    return []


def class_paths(argv: list[str]) -> list[str]:
    """Dotted class paths named in the ``--config`` files and the ``--model`` / ``--data`` / ``...class_path`` /
    ``...callbacks`` arguments of a command line (files that do not read as YAML are left to the parser)."""
    import yaml

    found: list[str] = []
    pairs = [a.split("=", 1) if "=" in a else [a, argv[i + 1] if i + 1 < len(argv) else ""] for i, a in enumerate(argv)
             if a.startswith("-")]
    for key, value in pairs:
        if key in ("--config", "-c"):
            try:
                found += _config_class_paths(yaml.safe_load(Path(value).read_text()))
            except (OSError, yaml.YAMLError, UnicodeDecodeError):
                continue
        elif key in ("--model", "--data") or key.endswith((".class_path", "callbacks", "callbacks+")):
            found.append(value)
    # a value may also be a config file (`--model=model.yaml`): only dotted names that are not files are classes
    return [p for p in dict.fromkeys(found) if _DOTTED.match(p) and not p.endswith((".yaml", ".yml", ".json"))
            and not Path(p).exists()]


def check_class_paths(argv: list[str]) -> None:
    """Import every dotted class path of a command line (see :func:`class_paths`); the first failure raises
    :class:`ClassImportError`."""
    for path in class_paths(argv):
        import_class(path)


def user_module_root(module: str) -> Path | None:
    """The folder holding ``module``'s top-level file or package when that folder is the working directory, a
    ``PYTHONPATH`` entry or the running script's folder (user code), else ``None``; nothing is imported.

    The folder is put on ``sys.path`` if it is not there yet, so the module then imports.
    """
    top = module.split(".")[0]
    roots = [Path.cwd()] + [Path(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if sys.path and sys.path[0]:
        roots.append(Path(sys.path[0]))
    for root in roots:
        if (root / f"{top}.py").is_file() or (root / top / "__init__.py").is_file():
            if not any(Path(p or ".").resolve() == root.resolve() for p in sys.path):
                sys.path.insert(0, str(root))
            return root
    return None
