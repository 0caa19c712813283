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
    pass


@user.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(access.ROLES))
@click.option("--team")
@pass_env
def user_add(env, name, role, team):
    outcome = users.add(env.store(), env.actor(), name, role, team)
    note(t(f"users.{outcome}", name=name, role=role))


@user.command("list")
@format_option
@pass_env
def user_list(env, fmt):
    emit(users.list_users(env.store(), env.actor()), list(users.COLUMNS), fmt)


@user.command("disable")
@click.argument("name")
@pass_env
def user_disable(env, name):
    users.disable(env.store(), env.actor(), name)
    note(t("users.disabled", name=name))


@main.group("audit", invoke_without_command=True)
@click.option("--client", "client_number")
@click.option("--user", "user_name")
@click.option("--since")
@click.option("--limit", type=click.IntRange(1))
@format_option
@click.pass_context
def audit_group(ctx, client_number, user_name, since, limit, fmt):
    if ctx.invoked_subcommand is not None:
        return
    env = ctx.obj
    rows = audit.trail(env.store(), env.actor(), client_number, user_name, since, limit)
    emit(rows, ["id", *audit.FIELDS], fmt)


@audit_group.command("verify")
@click.option("--anchor", "anchors", multiple=True, metavar="ID:HASH")
@pass_env
def audit_verify(env, anchors):
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
    head = audit.seal(env.store(), env.actor())
    note(t("audit.sealed", entries=head.entries))


@main.group("retention")
def retention_group():
    pass


@retention_group.command("apply")
@format_option
@pass_env
def retention_apply(env, fmt):
    done = retention.apply(env.store(), env.actor())
    emit_record(done, fmt)


@main.command("backup")
@click.argument("dest")
@click.option("--force", is_flag=True)
@click.option("--no-check", is_flag=True)
@pass_env
def backup_command(env, dest, force, no_check):
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
@click.option("--force", is_flag=True)
@pass_env
def restore_command(env, src, force):
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
