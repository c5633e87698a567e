"""``pacemail import``: the description that reproduces a cluster built by hand."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pacemail.cli.config import print_problems


@click.command("import")
@click.option("--cib", "cib_file", type=click.Path(dir_okay=False),
              help="Read this CIB (what `cibadmin --query` writes) instead of the live cluster's.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="Write the description here instead of standard output.")
def import_(cib_file, output):
    """Write the cluster description (YAML) that reproduces the live CIB, or --cib FILE.

    The mail stack is written as pacemail runs it (its agents, its tree); each
    conversion, each element the description cannot hold (it stays in the CIB
    as it is) and the elements moving over replaces are listed at the top of
    the description; conversions and problems also go to standard error.
    Exit 1 when there is no description, or it has errors to fix first.
    """
    from pacemail.controller.importer import import_cib
    from pacemail.controller.problems import errors
    from pacemail.pacemaker import cib
    from pacemail.proc import CommandError

    try:
        xml, source = (Path(cib_file).read_bytes(), cib_file) if cib_file else (cib.get(), "live CIB")
    except (OSError, CommandError) as exc:
        click.echo(f"error: cannot read the {'CIB file' if cib_file else 'live CIB'}: {exc}", err=True)
        raise SystemExit(1)
    result = import_cib(xml, source, output or "description")
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    print_problems(result.problems)
    if result.text:
        try:
            if output:
                Path(output).write_text(result.text, encoding="utf-8")
            else:
                sys.stdout.write(result.text)
        except OSError as exc:
            click.echo(f"error: cannot write the description: {exc}", err=True)
            raise SystemExit(1)
        click.echo(f"{len(result.notes)} conversion(s), {len(result.problems)} problem(s); moving "
                   f"over replaces {len(result.replaced)} element(s) of the CIB (listed at the top "
                   "of the description)", err=True)
    if errors(list(result.problems)):
        raise SystemExit(1)
