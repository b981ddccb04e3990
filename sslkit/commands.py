"""The ``sslkit`` subcommands besides Lightning's: each is a typed function run from flags or a YAML config.

The functions live with their layer (:mod:`sslkit.transfer.commands`:
``export``, ``label-efficiency``, ``cross-domain``, ``adapt``;
:mod:`sslkit.data.commands`: ``convert-litdata``; :mod:`sslkit.report.compare`: ``compare``); this module parses and runs
them. ``--config`` reads a YAML whose keys are the function's arguments, so
misspelt keys fail early and ``--print_config`` documents them.
"""

from __future__ import annotations

from collections.abc import Callable

from sslkit.data.commands import COMMANDS as DATA_COMMANDS
from sslkit.transfer.commands import COMMANDS as TRANSFER_COMMANDS

COMMANDS: tuple[str, ...] = TRANSFER_COMMANDS + DATA_COMMANDS + ("compare",)


def _functions() -> dict[str, Callable]:
    from sslkit.data.commands import functions as data
    from sslkit.report.compare import compare
    from sslkit.transfer.commands import functions as transfer

    return {**transfer(), **data(), "compare": compare}


def summary(command: str) -> str:
    """The one-line description of a subcommand (the first line of its docstring)."""
    line = (_functions()[command].__doc__ or "").strip().split("\n")[0].rstrip(".")
    return line[:1].lower() + line[1:]


def parser(command: str):
    """The jsonargparse parser of one subcommand."""
    from jsonargparse import ActionConfigFile, ArgumentParser

    fn = _functions()[command]
    p = ArgumentParser(prog=f"sslkit {command}", description=summary(command), exit_on_error=True)
    p.add_argument("--config", action=ActionConfigFile, help="YAML config with the arguments below")
    p.add_function_arguments(fn, as_group=False)
    return p


def run(command: str, args: list[str]) -> object:
    """Parse ``args`` for ``command`` and run it."""
    p = parser(command)
    cfg = p.parse_args(args)
    init = p.instantiate_classes(cfg)
    kwargs = {k: v for k, v in vars(init).items() if k not in ("config", "__path__", "print_config")}
    return _functions()[command](**{k: _plain(v) for k, v in kwargs.items()})


def _plain(v: object) -> object:
    from jsonargparse import Namespace

    return v.as_dict() if isinstance(v, Namespace) else v
