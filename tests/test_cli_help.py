"""Every command has help, and `caseload --help` lists what users script against."""

import click
import pytest
from click.testing import CliRunner

from caseload.cli import main


def walk(group, path=()):
    for name, cmd in sorted(group.commands.items()):
        yield (*path, name), cmd
        if isinstance(cmd, click.Group):
            yield from walk(cmd, (*path, name))


COMMANDS = list(walk(main))


def test_top_level_help():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in ("init", "demo", "import", "export", "client", "intervention"):
        assert name in result.output


@pytest.mark.parametrize("path,cmd", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_command_has_help(path, cmd):
    assert (cmd.help or "").strip(), f"caseload {' '.join(path)} has no help text"
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_bad_usage_exits_2():
    result = CliRunner().invoke(main, ["client", "outflow", "1", "--type", "lottery"])
    assert result.exit_code == 2
