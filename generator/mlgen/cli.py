"""The `mlgen` command: validate, render and schema, over the API in api.py."""

from __future__ import annotations

import json
import sys
import traceback
from enum import IntEnum
from pathlib import Path

import click

from . import __version__
from .api import load_spec
from .errors import InvalidSpecError, MlgenError
from .problems import has_errors
from .report import format_json, format_text
from .resources import load_schema, schema_path
from .validate import validate_file


class Exit(IntEnum):
    OK = 0
    INVALID = 1
    USAGE = 2
    INTERNAL = 3


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mlgen")
def main() -> None:
    """Declare a Label Studio ML backend in backend.yaml; render it as a standalone service."""


@main.command()
@click.argument("specs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def validate(specs: tuple[Path, ...], fmt: str) -> None:
    """Check spec files against the schema, the labeling config and scikit-learn.

    \b
    Example:
        mlgen validate samples/topics/backend.yaml
    """
    results = {str(path): validate_file(str(path))[1] for path in specs}
    failed = any(has_errors(problems) for problems in results.values())
    if fmt == "json":
        click.echo(format_json(results))
    else:
        for path, problems in results.items():
            if problems:
                click.echo(format_text(problems))
            elif len(results) > 1 or not failed:
                click.echo(f"{path}: valid")
    sys.exit(Exit.INVALID if failed else Exit.OK)


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
    from .render import render_project

    try:
        normalized = load_spec(spec)
    except InvalidSpecError as exc:
        click.echo(format_text(exc.problems), err=True)
        click.echo(f"{spec}: not rendered, the spec has errors", err=True)
        sys.exit(Exit.INVALID)
    target = output or Path(normalized["name"])
    try:
        project = render_project(normalized, target, force=force)
    except MlgenError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(Exit.INVALID)
    where = project if not project.is_relative_to(Path.cwd()) else project.relative_to(Path.cwd())
    click.echo(
        f"Rendered {normalized['name']} into {where}\n\nNext:\n"
        f"  cd {where}\n"
        "  python -m venv .venv && .venv/bin/pip install -r requirements.txt -r requirements-test.txt\n"
        "  .venv/bin/python -m pytest -q\n"
        f"  .venv/bin/python -m backend serve --port {normalized['server']['port']}"
    )


@main.command()
@click.option("--path", "show_path", is_flag=True, help="print where the schema file is instead")
def schema(show_path: bool) -> None:
    """Print the JSON Schema of backend.yaml."""
    click.echo(str(schema_path()) if show_path else json.dumps(load_schema(), indent=2))


def run() -> None:
    """Entry point: user errors exit 1 or 2; anything else is a bug, reported as one."""
    try:
        main(standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(Exit.USAGE)
    except click.Abort:
        sys.exit(130)
    except SystemExit:
        raise
    except Exception:
        traceback.print_exc()
        click.echo(f"mlgen {__version__} hit an internal error; please report it with the traceback above.", err=True)
        sys.exit(Exit.INTERNAL)
