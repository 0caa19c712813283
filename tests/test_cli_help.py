"""Every command has help, and `caseload --help` lists what users script against."""

import click
import pytest
from click.testing import CliRunner

from caseload.cli import COMMANDS as LAZY, load_all, main
from console import caseload

load_all()


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


def test_the_lazy_command_map_names_every_command_and_its_module():
    """`caseload` imports a command's module only when it runs: the map must stay complete."""
    assert set(main.commands) == set(LAZY)
    for name, cmd in main.commands.items():
        assert cmd.callback.__module__ == f"caseload.cli.{LAZY[name]}", name


def test_every_subcommand_lives_in_its_groups_module():
    """A fresh process imports only the group's module (COMMANDS): a subcommand registered by
    another module would be "No such command" there."""
    for path, cmd in COMMANDS:
        if len(path) > 1:
            group = main.commands[path[0]]
            assert cmd.callback.__module__ == group.callback.__module__, " ".join(path)


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_command_is_found_by_the_installed_script_in_a_fresh_process(path):
    r = caseload(*path, "--help")
    assert r.returncode == 0, r.stderr.decode()
    assert f"Usage: caseload {' '.join(path)} " in r.stdout.decode(), r.stdout.decode()


def test_a_command_runs_without_the_others_imported():
    import subprocess
    import sys

    code = ("import sys; from caseload.cli import run; sys.argv = ['caseload', 'segment', '--help']\n"
            "try:\n    run()\nexcept SystemExit:\n    pass\n"
            "import numpy, sqlite_utils.db\n"
            "print(sorted(m for m in sys.modules if m.startswith('caseload.cli.')), sys.modules.get('pandas'),"
            " sqlite_utils.db.np, numpy.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    # the reports still import numpy; only sqlite-utils went without it
    assert out.strip().splitlines()[-1] == ("['caseload.cli.localized', 'caseload.cli.output', 'caseload.cli.segments']"
                                            " None None numpy")
