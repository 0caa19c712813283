"""Commands for trust: users and roles, the audit trail, retention, backup and restore."""

import sys

import click

from .. import access, audit, backup as backups, files, retention, users
from ..errors import BadInput
from ..i18n import t
from . import main, pass_env
from .output import emit, emit_record, format_option, note


@main.group()
def user():
    """Who may use caseload, and in which role: add, list, disable (admins only)."""


@user.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(access.ROLES),
              help="coach: own clients; teamlead: the team's; analyst: aggregates only; admin: users and config.")
@click.option("--team", help="The team (required for a teamlead).")
@pass_env
def user_add(env, name, role, team):
    """Add a user, or change an existing user's role and team (this enables them again)."""
    outcome = users.add(env.store(), env.actor(), name, role, team)
    note(t(f"users.{outcome}", name=name, role=role))


@user.command("list")
@format_option
@pass_env
def user_list(env, fmt):
    """Every user with role, team and whether they are active."""
    emit(users.list_users(env.store(), env.actor()), list(users.COLUMNS), fmt)


@user.command("disable")
@click.argument("name")
@pass_env
def user_disable(env, name):
    """Take away a user's access; their history stays. The last active admin cannot be disabled."""
    users.disable(env.store(), env.actor(), name)
    note(t("users.disabled", name=name))


@main.group("audit", invoke_without_command=True)
@click.option("--client", "client_number", help="Only entries about this client (number, or client:ID).")
@click.option("--user", "user_name", help="Only entries by this user.")
@click.option("--since", help="Only entries from this date on (31-12-2024 or 2024-12-31).")
@click.option("--limit", type=click.IntRange(1), help="At most this many entries.")
@format_option
@click.pass_context
def audit_group(ctx, client_number, user_name, since, limit, fmt):
    """Who did what, when and from where: the audit trail (admins only). `audit verify` checks it."""
    if ctx.invoked_subcommand is not None:
        return
    env = ctx.obj
    rows = audit.trail(env.store(), env.actor(), client_number, user_name, since, limit)
    emit(rows, ["id", *audit.FIELDS], fmt)


@audit_group.command("verify")
@click.option("--anchor", "anchors", multiple=True, metavar="ID:HASH",
              help="An anchor printed by an earlier verify, kept outside the database; repeatable.")
@pass_env
def audit_verify(env, anchors):
    """Check the hash chain and its head: names every changed, deleted or reordered entry.

    Prints an anchor (ID:HASH) when intact: keep it elsewhere (syslog, a ticket, paper) and pass
    it to a later verify with --anchor, so even a rewrite of the whole trail shows.
    """
    store = env.store()
    access.require_admin(env.actor())
    problems = audit.verify(store.db, list(anchors), store.config.retention.audit_years)
    if problems:
        for p in problems:
            click.echo(p, err=True)
        raise click.exceptions.Exit(1)
    head = audit.head(store.db)
    if audit.audit_key() is None:
        click.echo(t("audit.no_key_warning"), err=True)
    note(t("audit.intact", entries=head.entries))
    click.echo(head.anchor)


@audit_group.command("seal")
@pass_env
def audit_seal(env):
    """Seal the head of the trail with the audit key (CASELOAD_AUDIT_KEY), after checking it.

    Needed once when the key is set after the upgrade that introduced it; `audit verify` says so.
    """
    head = audit.seal(env.store(), env.actor())
    note(t("audit.sealed", entries=head.entries))


@main.group("retention")
def retention_group():
    """Apply the retention rules of config.toml and the catalog (the daemon does this nightly)."""


@retention_group.command("apply")
@format_option
@pass_env
def retention_apply(env, fmt):
    """Erase clients long after outflow, delete expired observations, prune old audit entries."""
    done = retention.apply(env.store(), env.actor())
    emit_record(done, fmt)


@main.command("backup")
@click.argument("dest")
@click.option("--force", is_flag=True, help="Replace DEST if it exists.")
@click.option("--no-check", is_flag=True, help="Skip the integrity check of the copy (about 20 s per 500 MB).")
@pass_env
def backup_command(env, dest, force, no_check):
    """Copy the database to DEST (a file or directory) while caseload keeps running; mode 0600.

    DEST - writes the copy to standard output. Under sudo DEST must be - or lie inside
    daemon.backup_dir (the service's own directory).
    """
    files.backup_target(dest, env.own_files(), env.config.daemon.backup_dir)
    if files.is_stdio(dest):
        if sys.stdout.isatty():
            raise BadInput(t("files.to_terminal", example="caseload backup - > caseload.db"))
        done = backups.backup_stream(env.store(), env.actor(), sys.stdout.buffer, check=not no_check)
        note(t("files.streamed", size=done["bytes"]))
        return
    done = backups.backup(env.store(), env.actor(), dest, force=force, check=not no_check)
    note(t("backup.done", file=done["file"], size=done["bytes"]))


@main.command("restore")
@click.argument("src")
@click.option("--force", is_flag=True, help="Replace the existing database.")
@pass_env
def restore_command(env, src, force):
    """Replace the database with a backup, after checking its integrity, migrations and audit trail.

    Stop the daemon first (restore refuses while it runs). You must be an admin in the backup
    and in the database it replaces. SRC - reads the backup from standard input; under sudo SRC
    must be - or lie inside daemon.backup_dir.
    """
    files.backup_source(src, env.config.daemon.backup_dir)
    if files.is_stdio(src):
        backups.check_may_restore(env.db_path)  # before taking in a whole file
        with files.spooled_stdin(env.db_path.parent) as spooled:
            _restore(env, spooled, force)
    else:
        _restore(env, src, force)


def _restore(env, src, force):
    existed = env.db_path.exists()
    done = backups.restore(src, env.db_path, force=force)
    note(t("backup.restored", file=done["file"], entries=done["audit_entries"] + done["carried"]))
    if done["erased_again"]:
        note(t("backup.erased_again", n=done["erased_again"]))
    if existed and not done["trail_continues"]:
        note(t("backup.trail_reset"))
