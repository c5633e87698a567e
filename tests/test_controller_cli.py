"""``pacemail render`` as an admin runs it."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from lxml import etree

from pacemail.cli import main

TEMPLATES = Path(__file__).resolve().parent.parent / "cib-templates"


def test_render_writes_the_cib(tmp_path):
    out = tmp_path / "cib.xml"
    result = CliRunner().invoke(main, ["render", str(TEMPLATES / "mail-2node.yaml"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    cib = etree.parse(str(out)).getroot()
    assert cib.tag == "cib" and cib.find("configuration/resources/clone") is not None


def test_render_to_stdout_is_byte_identical_to_file(tmp_path):
    out = tmp_path / "cib.xml"
    runner = CliRunner()
    to_file = runner.invoke(main, ["render", str(TEMPLATES / "mail-3node.yaml"), "-o", str(out)])
    to_stdout = runner.invoke(main, ["render", str(TEMPLATES / "mail-3node.yaml")])
    assert to_file.exit_code == to_stdout.exit_code == 0
    assert to_stdout.stdout_bytes == out.read_bytes()


def test_invalid_description_prints_problems_and_exits_1(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((TEMPLATES / "mail-2node.yaml").read_text().replace(
        "no-quorum-policy: stop", "no-quorum-policy: ignore"))
    out = tmp_path / "cib.xml"
    result = CliRunner().invoke(main, ["render", str(bad), "-o", str(out)])
    assert result.exit_code == 1
    assert f"{bad}:" in result.stderr and "cluster.options.no-quorum-policy: error:" in result.stderr
    assert not out.exists()


def test_missing_file_is_a_problem_not_a_traceback(tmp_path):
    result = CliRunner().invoke(main, ["render", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1 and "cannot read the description" in result.stderr
