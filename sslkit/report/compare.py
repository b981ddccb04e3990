"""``sslkit compare``: run a list of recipes for several seeds on the same data and tabulate them.

Every (recipe, seed) is one ``sslkit fit`` in a child process with its own run
directory ``<out_dir>/<recipe>/seed<k>``; its output goes to ``fit.log`` there.
A run is finished when its ``summary.json`` (LinearEvalSummary) and
``compare.json`` (exit status 0 and wall time, written by this command) exist,
so a rerun after a kill skips finished runs and restarts the others from
scratch. The table (mean ± std over seeds) goes to ``zoo.csv`` and ``zoo.md``,
its provenance (command, machine, date, seeds) to ``zoo.json``, one row per run
to ``runs.csv``, and every run's curves to one ``report.html``::

    sslkit compare --out_dir runs/zoo --seeds [0,1,2] --jobs 2
    sslkit compare --recipes [recipes/pretrain/digits/mae.yaml,recipes/pretrain/digits/simclr.yaml] --epochs 10
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

#: The recipes ``sslkit compare`` runs by default: every digits pretraining recipe.
DEFAULT_GLOB = "recipes/pretrain/digits/*.yaml"

#: Table columns after method/family/epochs/runs: (header, per-run key).
STATS = [("wall time (s)", "wall_s"), ("probe", "probe"), ("kNN", "knn"), ("10%-label SSL", "ssl"),
         ("init", "init"), ("gain (points)", "gain")]


def recipe_list(recipes: list[str] | None) -> list[Path]:
    """The recipe files: ``recipes`` (files or folders of YAML files), or every digits pretraining recipe."""
    if not recipes:
        found = sorted(Path().glob(DEFAULT_GLOB))
        if not found:
            raise ValueError(f"no recipes found at {DEFAULT_GLOB} (relative to {Path.cwd()}); run sslkit compare from "
                             "the sslkit checkout or pass --recipes [path/a.yaml,path/b.yaml]")
        return found
    out: list[Path] = []
    for r in recipes:
        p = Path(r)
        if p.is_dir():
            out += sorted(p.glob("*.yaml"))
        elif p.is_file():
            out.append(p)
        else:
            raise FileNotFoundError(f"recipe {r} does not exist; pass YAML files or folders of them")
    names = [p.stem for p in out]
    if len(set(names)) < len(names):
        raise ValueError(f"two recipes share a name ({names}); run dirs are named after the file, so rename one")
    return out


def family(recipe: Path) -> str:
    """The method family of a recipe (``masked``, ``joint``, ...): the package of its model's class."""
    import importlib

    import yaml

    path = ((yaml.safe_load(recipe.read_text()) or {}).get("model") or {}).get("class_path", "")
    if not path:
        return "?"
    module, _, name = path.rpartition(".")
    try:
        mod = getattr(importlib.import_module(module), name).__module__
    except (ImportError, AttributeError):
        return "?"
    parts = mod.split(".")
    return parts[2] if len(parts) > 3 and parts[:2] == ["sslkit", "methods"] else mod


def fit_command(recipe: Path, seed: int, run_dir: Path, epochs: int | None, backbone: str | None,
                data: str | None, overrides: list[str]) -> list[str]:
    """The ``sslkit fit`` command line of one (recipe, seed)."""
    cmd = [sys.executable, "-m", "sslkit.cli", "fit", "--config", str(recipe), f"--seed_everything={seed}",
           f"--trainer.default_root_dir={run_dir}"]
    if epochs is not None:
        cmd.append(f"--trainer.max_epochs={epochs}")
    if backbone is not None:
        cmd.append(f"--model.init_args.backbone={backbone}")
    if data is not None:
        cmd += ["--data", data_arg(data)]
    return cmd + list(overrides)


def data_arg(data: str) -> str:
    """The ``--data`` value of ``sslkit fit``: a data-only YAML file (``class_path`` / ``init_args``) is passed as is,
    a recipe-style file with a top-level ``data:`` section as that section (JSON), a class path as is."""
    import yaml

    path = Path(data)
    if not path.is_file():
        return data
    spec = yaml.safe_load(path.read_text())
    if isinstance(spec, dict) and "data" in spec:
        return json.dumps(spec["data"])
    return data


def finished(run_dir: Path) -> bool:
    """Whether a run completed: exit status 0 recorded in compare.json, and its summary.json written."""
    status = run_dir / "compare.json"
    if not status.is_file() or not (run_dir / "summary.json").is_file():
        return False
    try:
        return json.loads(status.read_text()).get("returncode") == 0
    except json.JSONDecodeError:
        return False


def run_all(jobs: list[tuple[Path, list[str]]], n_parallel: int, threads: int) -> list[tuple[Path, int]]:
    """Run each ``(run_dir, command)`` in a child process, ``n_parallel`` at a time; SIGTERM stops the children.

    Returns:
        ``(run_dir, returncode)`` of every job, in completion order.
    """
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    env.setdefault("WANDB_MODE", "disabled")
    pending, running, done = list(jobs), {}, []

    def stop(signum: int, _frame: Any) -> None:
        for proc, _, _, _ in running.values():
            proc.terminate()
        raise SystemExit(128 + signum)

    old = signal.signal(signal.SIGTERM, stop)
    try:
        while pending or running:
            while pending and len(running) < n_parallel:
                run_dir, cmd = pending.pop(0)
                if run_dir.exists():  # an unfinished run: start again from scratch
                    shutil.rmtree(run_dir)
                run_dir.mkdir(parents=True)
                log = open(run_dir / "fit.log", "w")
                print(f"sslkit compare: start {run_dir}", flush=True)
                proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
                running[proc.pid] = (proc, run_dir, log, time.perf_counter())
            time.sleep(0.2)
            for pid, (proc, run_dir, log, t0) in list(running.items()):
                if proc.poll() is None:
                    continue
                log.close()
                del running[pid]
                wall = time.perf_counter() - t0
                (run_dir / "compare.json").write_text(json.dumps(
                    {"returncode": proc.returncode, "wall_s": wall, "command": cmd_text(proc.args),
                     "finished": utc_stamp(), "load_average": round(os.getloadavg()[0], 1)}, indent=2))
                state = "done" if proc.returncode == 0 else f"FAILED (exit {proc.returncode}; see {run_dir}/fit.log)"
                print(f"sslkit compare: {state} {run_dir} in {wall:.0f} s", flush=True)
                done.append((run_dir, proc.returncode))
    finally:
        for proc, _, log, _ in running.values():
            proc.terminate()
            proc.wait()
            log.close()
        signal.signal(signal.SIGTERM, old)
    return done


def utc_stamp(seconds: float | None = None) -> str:
    """A POSIX time (default: now) as ``YYYY-MM-DD HH:MM UTC``, the format of every date compare writes."""
    import datetime as dt

    return dt.datetime.fromtimestamp(time.time() if seconds is None else seconds, dt.timezone.utc).strftime(
        "%Y-%m-%d %H:%M UTC")


def finished_at(run_dir: Path) -> str:
    """When a run finished: ``compare.json``'s ``finished`` (older files: its modification time), UTC."""
    path = run_dir / "compare.json"
    return json.loads(path.read_text()).get("finished") or utc_stamp(path.stat().st_mtime)


def load_range(rows: list[dict[str, Any]]) -> str:
    """``, load average a-b as runs finished`` from the runs' compare.json (empty for runs that predate it)."""
    loads = [json.loads((Path(r["run_dir"]) / "compare.json").read_text()).get("load_average") for r in rows]
    loads = sorted(v for v in loads if v is not None)
    if not loads:
        return ""
    return f", load average {loads[0]:.1f}" + (f"-{loads[-1]:.1f}" if loads[-1] != loads[0] else "") + " as runs finished"


def cmd_text(cmd: list[str]) -> str:
    """A command line as text (``sslkit fit ...`` in place of the interpreter path)."""
    parts = ["sslkit"] + cmd[3:] if cmd[1:3] == ["-m", "sslkit.cli"] else cmd
    return " ".join(parts)


def run_row(recipe: Path, seed: int, run_dir: Path, family_name: str) -> dict[str, Any]:
    """One finished run's numbers: summary.json, the last probe / kNN of metrics.csv, compare.json's wall time."""
    from sslkit.report.run import load_run

    run = load_run(run_dir)
    s = run.summary or {}
    ssl, init = s.get("linear_acc_ssl"), s.get("linear_acc_init")
    epochs = run.config_value("trainer", "max_epochs") or run.epochs  # the budget asked for, else the epochs logged
    return {"method": recipe.stem, "family": family_name, "seed": seed, "epochs": epochs,
            "wall_s": json.loads((run_dir / "compare.json").read_text())["wall_s"],
            "probe": run.final("probe/linear_acc"), "knn": run.final("knn/acc"), "ssl": ssl, "init": init,
            "gain": None if ssl is None or init is None else ssl - init, "run_dir": str(run_dir)}


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    m = sum(values) / len(values)
    sd = math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return m, sd


def table(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean ± std over seeds per method (accuracies in %, gain in points, wall time in seconds), input order."""
    out: list[dict[str, Any]] = []
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        row: dict[str, Any] = {"method": method, "family": mine[0]["family"],
                               "epochs": mine[0]["epochs"], "seeds": len(mine)}
        for _, key in STATS:
            vals = [float(r[key]) for r in mine if r[key] not in (None, "")]
            scale = 1.0 if key == "wall_s" else 100.0
            m, sd = mean_std([scale * v for v in vals]) if vals else (None, None)
            row[f"{key}_mean"], row[f"{key}_std"] = m, sd
        out.append(row)
    return out


def markdown(summary: list[dict[str, Any]]) -> str:
    """The table as markdown: mean ± std over seeds."""
    head = ["method", "family", "epochs", "seeds"] + [h for h, _ in STATS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in summary:
        cells = [r["method"], r["family"], str(r["epochs"]), str(r["seeds"])]
        for _, key in STATS:
            m, sd = r[f"{key}_mean"], r[f"{key}_std"]
            fmt = "{:.0f} ± {:.0f}" if key == "wall_s" else ("{:+.1f} ± {:.1f}" if key == "gain" else "{:.1f} ± {:.1f}")
            cells.append("–" if m is None else fmt.format(m, sd))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def provenance(out_dir: str, files: list[Path], seeds: list[int], jobs: int, epochs: int | None,
               backbone: str | None, data: str | None, overrides: list[str], rows: list[dict[str, Any]],
               threads: int | None = None) -> dict:
    """What a table came from: the command, the machine, the date, the seeds (``zoo.json``)."""
    import platform

    def opt(name: str, v: object) -> str:
        return "" if v is None else f" --{name} {v}"

    command = (f"sslkit compare --out_dir {out_dir} --recipes [{','.join(str(f) for f in files)}] "
               f"--seeds [{','.join(map(str, seeds))}] --jobs {jobs}" + opt("threads", threads) + opt("epochs", epochs) + opt("backbone", backbone)
               + opt("data", data) + (f" --overrides [{','.join(overrides)}]" if overrides else ""))
    ends = sorted(finished_at(Path(r["run_dir"])) for r in rows)
    date = ends[0] if ends[0] == ends[-1] else f"{ends[0]} to {ends[-1]}"  # when the runs finished, not this write
    return {"command": command, "date": date,
            "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores" + load_range(rows),
            "seeds": seeds, "runs": len(rows)}


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def compare(out_dir: str = "runs/zoo", recipes: list[str] | None = None, seeds: list[int] = [0, 1, 2],  # noqa: B006
            jobs: int = 1, epochs: int | None = None, backbone: str | None = None, data: str | None = None,
            overrides: list[str] = [], threads: int | None = None, report: bool = True) -> Path:  # noqa: B006
    """Run recipes for several seeds on the same data and write one mean ± std table and one HTML report.

    Args:
        out_dir: where the runs (``<recipe>/seed<k>``), ``zoo.csv``, ``zoo.md``, ``runs.csv`` and ``report.html`` go.
        recipes: recipe files or folders (default: every ``recipes/pretrain/digits/*.yaml``).
        seeds: ``seed_everything`` of each run of a recipe.
        jobs: how many fits run at once (each in its own process).
        epochs: override ``trainer.max_epochs`` of every recipe.
        backbone: override ``model.init_args.backbone`` (e.g. ``timm:resnet18``).
        data: a YAML file with the DataModule's ``class_path`` / ``init_args`` (bare, or under a ``data:`` key as
            in a recipe), or a class path; it replaces every recipe's data class, and the recipe's ``init_args``
            that the new class accepts (views, batch size) are kept.
        overrides: more ``sslkit fit`` arguments for every run, e.g. ``[--trainer.limit_train_batches=2]``.
        threads: torch threads per fit (default: CPU cores // jobs, at least 1).
        report: also write ``report.html`` with every run.

    Returns:
        the path of ``zoo.csv``.
    """
    if jobs < 1 or not seeds:
        raise ValueError(f"sslkit compare needs jobs >= 1 and at least one seed (got jobs={jobs}, seeds={seeds})")
    if len(set(seeds)) < len(seeds):
        raise ValueError(f"seeds repeat ({seeds}); give distinct seeds, e.g. [0,1,2]")
    files = recipe_list(recipes)
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    plan = [(r, s, root / r.stem / f"seed{s}") for r in files for s in seeds]
    todo = [(d, fit_command(r, s, d, epochs, backbone, data, overrides)) for r, s, d in plan if not finished(d)]
    print(f"sslkit compare: {len(plan)} runs ({len(files)} recipes x {len(seeds)} seeds), "
          f"{len(plan) - len(todo)} already finished, {len(todo)} to run, {jobs} at a time", flush=True)
    asked_threads, threads = threads, threads or max(1, (os.cpu_count() or 1) // jobs)
    failed = [d for d, rc in run_all(todo, jobs, threads) if rc != 0]
    families = {r: family(r) for r in files}
    rows = [run_row(r, s, d, families[r]) for r, s, d in plan if finished(d)]
    if not rows:
        raise RuntimeError(f"no run finished; see the fit.log files under {root}")
    write_csv(root / "runs.csv", rows)
    (root / "zoo.json").write_text(json.dumps(provenance(out_dir, files, seeds, jobs, epochs, backbone, data, overrides,
                                                         rows, asked_threads), indent=2))
    summary = table(rows)
    csv_path = root / "zoo.csv"
    write_csv(csv_path, summary)
    (root / "zoo.md").write_text(markdown(summary))
    if report:
        from sslkit.report.build import write_report

        write_report([r["run_dir"] for r in rows], root / "report.html", f"sslkit compare: {len(files)} recipes")
    print(markdown(summary))
    print(f"sslkit compare: wrote {csv_path}, {root / 'zoo.md'}, {root / 'zoo.json'}, {root / 'runs.csv'}"
          + (f", {root / 'report.html'}" if report else ""))
    if failed:
        print(f"sslkit compare: {len(failed)} runs failed: " + ", ".join(f"{d}/fit.log" for d in failed), file=sys.stderr)
    return csv_path
