"""Mutation testing of the runtime's core modules and the generator's checks, with mutmut.

    .venv/bin/pip install -e '.[mutation]'
    .venv/bin/python tests/mutation/run.py                 # every group
    .venv/bin/python tests/mutation/run.py store targets   # some groups
    .venv/bin/python tests/mutation/run.py --list          # the groups, their modules and tests
    .venv/bin/python tests/mutation/run.py --report-only   # the last results again, without running

Nothing in the work tree is mutated. mutmut names a mutant after its file's path and only
switches it on in a function whose `__module__` is that name, so it cannot mutate the runtime
where it lives (cookiecutter-template/{{cookiecutter.project_slug}}/backend/store.py would be
"cookiecutter-template.{{cookiecutter.project_slug}}.backend.store", never `backend.store`).
Each group is therefore staged in .cache/mutation/GROUP/: a copy of the package as a top-level
`backend/` (or `mlgen/`), a copy of tests/, and copies of the template, samples and schemas that
the tests and the generator read. mutmut then writes its mutants under that copy's mutants/.
A small pytest plugin imports the staged package before tests/conftest.py puts the template's
own copy of `backend` first on sys.path.

It prints, per module, the mutants killed out of all made, and lists every one that was not
killed with its diff; those judged harmless (harmless.json beside this file, with the reason)
are marked, and the score without them is printed too. See README.md for timings and scores.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
TEMPLATE_PROJECT = REPO / "cookiecutter-template" / "{{cookiecutter.project_slug}}"
STAGES = Path(os.environ.get("MLGEN_CACHE", REPO / ".cache")) / "mutation"
HARMLESS = HERE / "harmless.json"


@dataclass(frozen=True)
class Group:
    package: str  # "backend" (the runtime, from the template) or "mlgen" (the generator)
    modules: tuple[str, ...]  # globs, relative to the stage: what is mutated
    tests: tuple[str, ...]  # pytest arguments under tests/unit/: the tests that may kill the mutants


# Each group's tests are those that exercise its modules; mutmut then runs, for each mutant, only
# the tests that called the mutated function when it ran them once on the unmutated code.
GROUPS = {
    "store": Group("backend", ("backend/store.py",),
                   ("test_store.py", "test_store_migration.py", "test_runtime.py")),
    "trainer": Group("backend", ("backend/trainer.py",),
                     ("test_trainer.py", "test_training.py", "test_runtime.py", "test_images.py")),
    "evaluation": Group("backend", ("backend/evaluation.py",),
                        ("test_evaluation.py", "test_training.py")),
    "scoring": Group("backend", ("backend/scoring.py",),
                     ("test_scoring.py", "test_runtime.py", "test_targets.py")),
    "predictor": Group("backend", ("backend/predictor.py",), ("test_predictor.py", "test_images.py")),
    "events": Group("backend", ("backend/events.py",), ("test_events.py",)),
    "targets": Group("backend", ("backend/targets/*.py",), ("test_targets.py", "test_spans_target.py")),
    "checks": Group("mlgen", ("mlgen/checks.py",), ("test_checks.py", "test_spec_files.py")),
}
KILLED = {"killed", "timeout", "segfault", "caught by type check"}  # the tests noticed the mutant

PLUGIN = '''"""Loaded first by every pytest run of mutmut (-p mutation_stage): import the staged, mutated
package before tests/conftest.py puts the template's copy of the runtime first on sys.path."""
import importlib
from pathlib import Path

package = importlib.import_module({package!r})
assert Path(package.__file__).parent.parent.name == "mutants", package.__file__
'''


def stage(name: str, group: Group, deselect: list[str]) -> Path:
    """A fresh copy of what the group's mutmut run needs, with its configuration."""
    root = STAGES / name
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis", ".pytest_cache")
    source = TEMPLATE_PROJECT / "backend" if group.package == "backend" else REPO / "generator" / "mlgen"
    shutil.copytree(source, root / group.package, ignore=ignore)
    shutil.copytree(REPO / "tests", root / "tests",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "e2e", "manual", "mutation"))
    # helpers.py finds these beside tests/ (in mutants/), mlgen beside its package's parent (the stage)
    for folder in ("cookiecutter-template", "samples", "schemas"):
        shutil.copytree(REPO / folder, root / folder, ignore=ignore)
    (root / "mutation_stage.py").write_text(PLUGIN.format(package=group.package))
    tests = [f"tests/unit/{t}" for t in group.tests if (REPO / "tests" / "unit" / t.split("::")[0]).exists()]
    missing = sorted(set(group.tests) - {t.removeprefix("tests/unit/") for t in tests})
    if missing:
        print(f"  (no {', '.join(missing)} yet: left out)")
    if not tests:  # mutmut would run every test it finds, the template's too
        sys.exit(f"group {name}: none of its tests exist")
    args = ["-p", "mutation_stage", "-p", "no:cacheprovider"]
    for node in deselect:
        args += ["--deselect", node]
    config = {
        "source_paths": [group.package],
        "only_mutate": list(group.modules),
        "also_copy": ["mutation_stage.py", "cookiecutter-template", "samples", "schemas"],
        "pytest_add_cli_args_test_selection": tests,
        "pytest_add_cli_args": args,
        "use_git_change_detection": False,
        # Forking each mutant straight from mutmut's main process, which has run the tests once,
        # deadlocks some children (a training that raises in evaluation.py hung until the wall
        # timeout, and counted as killed); a fork server that has only collected the tests does not.
        "process_isolation": "forkserver",
    }
    lines = ["[tool.mutmut]"] + [f"{key} = {json.dumps(value)}" for key, value in config.items()]
    lines += ["", "[tool.pytest.ini_options]", 'markers = ["e2e: slow"]', ""]
    (root / "pyproject.toml").write_text("\n".join(lines))
    return root


def run_mutmut(root: Path, workers: int) -> float:
    started = time.monotonic()
    log = root / "mutmut.log"
    with log.open("w") as out:
        done = subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", str(workers)],
                              cwd=root, stdout=out, stderr=subprocess.STDOUT,
                              env={**os.environ, "PYTHONHASHSEED": "0"})
    if done.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-40:]
        sys.exit(f"mutmut failed in {root} (exit {done.returncode}); the end of {log}:\n" + "\n".join(tail))
    return time.monotonic() - started


def results(root: Path, group: Group) -> dict[str, dict[str, str]]:
    """{module file: {mutant name: status}} for the group's mutated files."""
    from mutmut.stats import status_by_exit_code

    found = {}
    for meta in sorted((root / "mutants" / group.package).rglob("*.py.meta")):
        path = str(meta.relative_to(root / "mutants")).removesuffix(".meta")
        if not any(fnmatch.fnmatch(path, pattern) for pattern in group.modules):
            continue
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        found[path] = {name: status_by_exit_code[code] for name, code in sorted(codes.items(), key=_order)}
    return found


def _order(item: tuple[str, int]) -> tuple[str, int]:
    function, _, number = item[0].rpartition("__mutmut_")
    return function, int(number)


def diff(root: Path, path: str, mutant: str) -> str:
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    cwd = os.getcwd()
    os.chdir(root)  # mutmut reads mutants/ relative to the working directory
    try:
        text = get_diff_for_mutant(mutant, path=path)
    finally:
        os.chdir(cwd)
    return "\n".join(line for line in text.splitlines()[2:] if line[:1] in "+-")  # without the file header


def function_of(mutant: str) -> str:
    """`xǁStoreǁsave_annotations__mutmut_3` -> `Store.save_annotations`."""
    mangled = mutant.rpartition(".")[2].partition("__mutmut_")[0]
    return mangled.removeprefix("x_") if mangled.startswith("x_") else ".".join(mangled.split("ǁ")[1:])


SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|ALTER|PRAGMA|FROM|WHERE|AND|VALUES|CASE WHEN|ON CONFLICT"
                 r"|ORDER BY|GROUP BY)\b|=excluded\.")
SQL_CASE = "only the letter case of SQL text changed: SQLite reads keywords and names case-insensitively"


def harmless_reason(entries: list[dict[str, str]], path: str, mutant: str, change: str) -> str | None:
    """The reason a surviving mutant was judged harmless: SQL whose letter case alone changed, or
    an entry of harmless.json, matched on the module, the function and the mutated line (not on
    mutmut's number, which shifts as the code changes)."""
    removed = [line[1:] for line in change.splitlines() if line.startswith("-")]
    added = [line[1:] for line in change.splitlines() if line.startswith("+")]
    if (len(removed) == len(added) and all(SQL.search(old) for old in removed)
            and [old.lower() for old in removed] == [new.lower() for new in added]):
        return SQL_CASE
    stripped = [line.strip() for line in added]
    for entry in entries:
        if entry["module"] == path and entry["function"] == function_of(mutant) and entry["mutant"] in stripped:
            return entry["reason"]
    return None


def report(root: Path, group: Group, entries: list[dict[str, str]]) -> list[tuple[str, int, int, int]]:
    """Print each module's score, the mutants not killed with their diffs, then those judged
    harmless by reason; return (module, killed, total, judged harmless) rows."""
    rows = []
    for path, statuses in results(root, group).items():
        killed = sum(status in KILLED for status in statuses.values())
        open_, harmless = [], {}
        for name, status in statuses.items():
            if status in KILLED:
                continue
            change = diff(root, path, name)
            reason = harmless_reason(entries, path, name, change)
            number = name.rpartition("__mutmut_")[2]
            if reason is None:
                open_.append((status, f"{function_of(name)} ({number})", change))
            else:
                harmless.setdefault(reason, []).append(f"{function_of(name)}#{number}")
        print(f"\n{path}: {killed}/{len(statuses)} killed, {len(open_)} not killed, "
              f"{sum(map(len, harmless.values()))} judged harmless")
        for status, label, change in open_:
            print(f"  {status}: {label}")
            for line in change.splitlines():
                print(f"      {line}")
        for reason, labels in harmless.items():
            print(f"  judged harmless ({len(labels)}), {reason}:")
            print(textwrap.fill(", ".join(labels), width=108, initial_indent="      ", subsequent_indent="      "))
        rows.append((path, killed, len(statuses), sum(map(len, harmless.values()))))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("groups", nargs="*", metavar="GROUP", help=f"of: {', '.join(GROUPS)} (default: all)")
    parser.add_argument("--workers", type=int, default=2, help="mutants tested at once (default 2)")
    parser.add_argument("--deselect", action="append", default=[], metavar="NODEID",
                        help="leave a test out (e.g. one that fails for reasons of its own)")
    parser.add_argument("--list", action="store_true", help="show the groups and stop")
    parser.add_argument("--report-only", action="store_true",
                        help="print the last run's results of the groups again, without running anything")
    options = parser.parse_args()
    unknown = sorted(set(options.groups) - set(GROUPS))
    if unknown:
        parser.error(f"no group {', '.join(unknown)}; the groups are {', '.join(GROUPS)}")
    if options.list:
        for name, group in GROUPS.items():
            print(f"{name}: {', '.join(group.modules)} <- {', '.join(group.tests)}")
        return
    entries = json.loads(HARMLESS.read_text()) if HARMLESS.exists() else []
    rows, started = [], time.monotonic()
    for name in options.groups or list(GROUPS):
        group = GROUPS[name]
        print(f"== {name}: mutating {', '.join(group.modules)}", flush=True)
        if options.report_only:
            root = STAGES / name
            if not (root / "mutants").is_dir():
                sys.exit(f"group {name} has not run yet: no {root / 'mutants'}")
        else:
            root = stage(name, group, options.deselect)
            seconds = run_mutmut(root, options.workers)
            print(f"  mutmut took {seconds:.0f} s (log: {root / 'mutmut.log'})")
        rows += report(root, group, entries)
    print(f"\n{'module':<34} {'killed':>9} {'score':>6} {'harmless':>9} {'score without them':>19}")
    for path, killed, total, harmless in rows:
        score = killed / total if total else 1.0
        rest = killed / (total - harmless) if total - harmless else 1.0
        print(f"{path:<34} {f'{killed}/{total}':>9} {score:>6.0%} {harmless:>9} {rest:>19.0%}")
    print(f"\n{time.monotonic() - started:.0f} s in all")


if __name__ == "__main__":
    main()
