"""The `mlgen` command: validate, render, init and schema, over the API in api.py."""

from __future__ import annotations

import glob
import json
import os
import platform
import sys
import traceback
from enum import IntEnum
from pathlib import Path

import click

from . import __version__
from .api import load_spec
from .errors import InvalidSpecError, MlgenError
from .problems import Problem, has_errors
from .report import format_github, format_json, format_text
from .resources import load_schema, schema_path
from .validate import validate_file

SPEC_NAMES = ("backend.yaml", "backend.yml", "*.backend.yaml", "*.backend.yml")


class Exit(IntEnum):
    OK = 0
    INVALID = 1
    USAGE = 2
    INTERNAL = 3
    INTERRUPTED = 130


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mlgen")
def main() -> None:
    """Declare a Label Studio ML backend in backend.yaml; render it as a standalone service."""


def expand(paths: tuple[str, ...]) -> list[Path]:
    """Files as given; directories searched for backend.yaml and *.backend.yaml; globs expanded
    (for shells and CI systems that pass them through unexpanded)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            specs = sorted({p for pattern in SPEC_NAMES for p in path.rglob(pattern)})
            if not specs:
                raise click.UsageError(f"no spec found in {raw} (looked for {', '.join(SPEC_NAMES)})")
            found += specs
        elif not path.exists() and glob.has_magic(raw):
            matches = sorted(Path(p) for p in glob.glob(raw, recursive=True))
            if not matches:
                raise click.UsageError(f"no file matches {raw!r}")
            found += matches
        else:
            found.append(path)
    return list(dict.fromkeys(found))


def use_color(choice: str) -> bool:
    if choice != "auto":
        return choice == "always"
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github"]),
              help="output format [default: github under GitHub Actions, else text]")
@click.option("--strict", is_flag=True, help="warnings fail too")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True,
              help="colour the text format (auto: on a terminal, unless NO_COLOR is set)")
def validate(paths: tuple[str, ...], fmt: str | None, strict: bool, color: str) -> None:
    """Check specs against the schema, their labeling config and scikit-learn.

    PATHS are spec files, directories (searched for backend.yaml and *.backend.yaml) or globs.
    Exit status: 0 valid, 1 invalid (with --strict, warnings too), 2 usage error, 3 internal error.

    \b
    Examples:
        mlgen validate samples/topics/backend.yaml
        mlgen validate samples/ --format json
        mlgen validate 'specs/**/*.yaml' --strict
    """
    fmt = fmt or ("github" if os.environ.get("GITHUB_ACTIONS") == "true" else "text")
    files = expand(paths)
    if not files:
        raise click.UsageError(f"no spec found in {' '.join(paths)}")
    results = {str(path): validate_file(str(path))[1] for path in files}
    problems = [p for ps in results.values() for p in ps]
    failed = has_errors(problems) or (strict and bool(problems))
    if fmt == "json":
        click.echo(format_json(results, failed))
    elif fmt == "github":
        if problems:
            click.echo(format_github(problems))
    else:
        if problems:
            click.echo(format_text(problems, use_color(color)))
        click.echo(_summary(results, problems, failed))
    sys.exit(Exit.INVALID if failed else Exit.OK)


def _summary(results: dict[str, list[Problem]], problems: list[Problem], failed: bool) -> str:
    if len(results) == 1 and not problems:
        return f"{next(iter(results))}: valid"
    errors = sum(p.is_error for p in problems)
    bad = sum(1 for ps in results.values() if ps)
    return (f"{len(results)} spec(s) checked: {errors} error(s), {len(problems) - errors} warning(s) "
            f"in {bad} file(s)" + (" - failed" if failed else ""))


@main.command()
@click.argument("spec", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), help="project directory (default: ./NAME)")
@click.option("--force", is_flag=True, help="write into a non-empty output directory")
def render(spec: Path, output: Path | None, force: bool) -> None:
    """Validate a spec, then render its standalone backend project.

    \b
    Example:
        mlgen render samples/topics/backend.yaml -o topics-backend
    """
    from .custom import project_files
    from .render import render_project

    try:
        normalized = load_spec(spec)
    except InvalidSpecError as exc:
        click.echo(format_text(exc.problems, use_color("auto")), err=True)
        click.echo(f"{spec}: not rendered, the spec has errors", err=True)
        sys.exit(Exit.INVALID)
    try:
        project = render_project(normalized, output or Path(normalized["name"]), force=force,
                                 files=project_files(normalized, spec))
    except MlgenError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(Exit.INVALID)
    where = project.relative_to(Path.cwd()) if project.is_relative_to(Path.cwd()) else project
    click.echo(
        f"Rendered {normalized['name']} into {where}\n\nNext:\n"
        f"  cd {where}\n"
        "  python3 -m venv .venv && .venv/bin/pip install -r requirements.txt -r requirements-test.txt\n"
        "  .venv/bin/python -m pytest -q\n"
        f"  .venv/bin/python -m backend serve --port {normalized['server']['port']}"
    )


@main.command()
@click.option("--from-config", "config", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="the Label Studio labeling config (XML)")
@click.option("--tasks", type=click.Path(path_type=Path, dir_okay=False),
              help="tasks in Label Studio's JSON import format, to type the fields of a <Table>")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), default=Path("backend.yaml"),
              show_default=True)
@click.option("--force", is_flag=True, help="overwrite an existing output file")
def init(config: Path, tasks: Path | None, output: Path, force: bool) -> None:
    """Write a starter backend.yaml from a labeling config: target, fields, a proven recipe.

    \b
    Example:
        mlgen init --from-config labeling_config.xml
        mlgen init --from-config config.xml --tasks tasks.json -o tabular/backend.yaml
    """
    from .init import starter_spec

    if output.exists() and not force:
        click.echo(f"error: {output} exists; pass --force to overwrite it", err=True)
        sys.exit(Exit.INVALID)
    try:
        text = starter_spec(config, output, tasks)
    except MlgenError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(Exit.INVALID)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    problems = validate_file(str(output))[1]
    if problems:  # a bug in init, never the user's doing
        raise RuntimeError("init wrote a spec that does not validate:\n" + format_text(problems))
    click.echo(f"Wrote {output}. Next: mlgen validate {output} && mlgen render {output}")


@main.command()
@click.option("--path", "show_path", is_flag=True, help="print where the schema file is instead")
@click.option("--markdown", is_flag=True, help="print the spec reference (docs/spec-reference.md) instead")
def schema(show_path: bool, markdown: bool) -> None:
    """Print the JSON Schema of backend.yaml."""
    if show_path:
        click.echo(str(schema_path()))
    elif markdown:
        from .reference import spec_reference

        click.echo(spec_reference(), nl=False)
    else:
        click.echo(json.dumps(load_schema(), indent=2))


def run() -> None:
    """Entry point: user errors exit 1 or 2; anything else is a bug, reported as one."""
    try:
        main(standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(Exit.USAGE)
    except (click.Abort, KeyboardInterrupt):
        sys.exit(Exit.INTERRUPTED)
    except SystemExit:
        raise
    except Exception:
        traceback.print_exc()
        click.echo(
            f"mlgen {__version__} (Python {platform.python_version()}) hit an internal error; "
            "please report it with the traceback above.",
            err=True,
        )
        sys.exit(Exit.INTERNAL)
