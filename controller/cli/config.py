"""``pacemail render``: the CIB a cluster description becomes."""

from __future__ import annotations

import sys

import click


def print_problems(problems) -> None:
    for problem in problems:
        click.echo(str(problem), err=True)


@click.command()
@click.argument("description", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="Write the CIB XML here instead of standard output.")
def render(description, output):
    """Turn the cluster DESCRIPTION (YAML) into a complete Pacemaker CIB (XML).

    Errors and warnings go to standard error; any error means no CIB and exit 1.
    """
    from pacemail.controller.build import render as build_render
    from pacemail.controller.description import load
    from pacemail.controller.problems import errors

    parsed = load(description)
    print_problems(parsed.problems)
    if errors(parsed.problems):
        raise SystemExit(1)
    xml = build_render(parsed.description)
    if output:
        with open(output, "wb") as f:
            f.write(xml)
    else:
        sys.stdout.buffer.write(xml)
