"""The `caseload` command: one click group; each command parses, calls the core, prints."""

import importlib
import logging
import os
import sqlite3
import sys
from pathlib import Path

import click

from .. import i18n
from ..config import load_config
from ..errors import CaseloadError, PermissionDenied
from ..i18n import t
from ..paths import default_config_path, default_db_path
from .localized import LocalizedGroup, install

install()

log = logging.getLogger("caseload")


class Env:
    """What every command needs, opened lazily: config, store, acting user."""

    def __init__(self, config_path, db_path, lang):
        from ..access import under_sudo

        if under_sudo():  # only the service's own config counts, never the caller's files or flags
            ctx = click.get_current_context()
            for name in ("config_path", "db_path"):
                if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE:
                    raise CaseloadError(t("sudo.no_override", option="--" + name.split("_")[0]))
            if not config_path:
                from ..paths import config_dir

                config_path = config_dir() / "config.toml"
        self.config_path = Path(config_path) if config_path else default_config_path()
        self._db_path = db_path
        self.lang = lang
        self._config = None
        self._store = None
        self._actor = None
        self.command = None

    @property
    def config(self):
        if self._config is None:
            self._config = load_config(self.config_path)
            i18n.set_language(self.lang or self._config.organisation.language or i18n.locale_language() or "nl")
        return self._config

    @property
    def db_path(self) -> Path:
        return Path(self._db_path or self.config.database.path or default_db_path())

    def own_files(self):
        """caseload's own files, which no output the caller names may replace."""
        from ..files import OwnFiles

        return OwnFiles.of(self.db_path, self.config_path, self.config.daemon.backup_dir)

    def store(self, create: bool = False):
        if self._store is None:
            from ..store import open_store

            self._store = open_store(self.config, self.db_path, create=create)
        return self._store

    def actor(self, interface: str = "cli"):
        if self._actor is None:
            leaf = click.get_current_context(silent=True)
            self.command = " ".join(leaf.command_path.split()[1:]) if leaf else None
            from ..access import resolve_actor

            self._actor = resolve_actor(self.store().db, interface=interface)
        return self._actor

    def close(self):
        if self._store is not None:
            self._store.close()


# Where each top-level command lives. Its module is imported when the command runs (or help lists
# it): importing all of them costs more start-up than `caseload send` or `caseload tui` itself.
COMMANDS = {
    "audit": "trust", "backup": "trust", "restore": "trust", "retention": "trust", "user": "trust",
    "campaign": "daemon", "checkin": "daemon", "daemon": "daemon",
    "client": "clients", "demo": "clients", "export": "clients", "import": "clients", "init": "clients",
    "intervention": "clients", "item": "offers", "digest": "offers",
    "outbox": "messages", "queue": "messages", "send": "messages", "template": "messages",
    "report": "reports", "segment": "segments", "tui": "tui", "call": "calls", "letter": "letters",
    "attention": "day", "followup": "day", "inbox": "day",
}


class CaseloadGroup(LocalizedGroup):
    """Turns every CaseloadError into one message and its exit code; never a traceback.
    Commands are loaded on first use (COMMANDS). The UI language is chosen before anything is
    parsed, so help and usage errors speak it too."""

    def make_context(self, info_name, args, parent=None, **extra):
        if self is main:
            i18n.set_language(ui_language(args))
        return super().make_context(info_name, args, parent, **extra)

    def list_commands(self, ctx):
        return sorted(set(self.commands) | (set(COMMANDS) if self is main else set()))

    def get_command(self, ctx, name):
        if self is main and name not in self.commands and name in COMMANDS:
            importlib.import_module(f"{__name__}.{COMMANDS[name]}")
        return super().get_command(ctx, name)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except CaseloadError as e:
            if isinstance(e, PermissionDenied):
                _audit_refusal(ctx)
            click.echo(t("cli.error", message=e.message), err=True)
            for line in e.details:
                click.echo(f"  {line}", err=True)
            ctx.exit(e.exit_code)
        except BrokenPipeError:  # the reader went away (`| head`): end quietly, as SIGPIPE would
            closed_pipe()
        except sqlite3.OperationalError as e:
            log.error("database error: %s", type(e).__name__)
            click.echo(t("cli.database_error", error=str(e)), err=True)
            ctx.exit(1)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, SystemExit, KeyboardInterrupt):
            raise
        except Exception as e:  # the last line of defence: no traceback reaches a user
            if isinstance(e, OSError) and e.filename is not None:  # a file: say which, and why
                log.error("file error: %s", type(e).__name__)
                click.echo(t("cli.error", message=t("files.os_error", file=e.filename,
                                                    error=e.strerror or type(e).__name__)), err=True)
                ctx.exit(1)
            log.error("internal error: %s", type(e).__name__, exc_info=os.environ.get("CASELOAD_DEBUG") == "1")
            if os.environ.get("CASELOAD_DEBUG") == "1":
                raise
            click.echo(t("cli.internal_error", kind=type(e).__name__), err=True)
            ctx.exit(1)
        finally:
            env = ctx.find_object(Env)
            if env is not None:
                env.close()


def closed_pipe() -> None:
    """Whoever read stdout is gone: exit 141 (128 + SIGPIPE, as `cat` would) without a message.
    stdout points at /dev/null from here on, so the flush at exit cannot fail a second time."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    sys.exit(141)


def _audit_refusal(ctx) -> None:
    """A refused command is a fact for the audit trail too (BIO: result and actor of every access)."""
    env = ctx.find_object(Env)
    if env is None or env._store is None:
        return
    from .. import access, audit

    actor = env._actor or access.Actor(access.os_user(), "none", origin=access.origin("cli"))
    try:
        audit.record(env._store.db, actor, "refused", f"command:{env.command or '?'}", "denied")
    except Exception:  # the refusal itself is what the user must hear about
        log.error("could not audit a refusal")


def ui_language(args: list[str]) -> str:
    """--lang, else the config's organisation.language, else the locale, else Dutch: read from the
    arguments before click parses them (help is printed while parsing)."""
    from ..access import under_sudo

    given = {}
    words = list(args)
    for i, word in enumerate(words):
        if word in COMMANDS:
            break
        for name in ("--lang", "--config"):
            if word == name and i + 1 < len(words):
                given[name] = words[i + 1]
            elif word.startswith(name + "="):
                given[name] = word.split("=", 1)[1]
    if given.get("--lang") in i18n.LANGUAGES:
        return given["--lang"]
    if under_sudo():  # the service's own config, as Env reads it
        from ..paths import config_dir

        path = config_dir() / "config.toml"
    else:
        path = Path(given.get("--config") or os.environ.get("CASELOAD_CONFIG") or default_config_path())
    try:
        import tomllib

        with open(path, "rb") as f:
            configured = tomllib.load(f).get("organisation", {}).get("language")
    except (OSError, ValueError, AttributeError):
        configured = None
    if configured in i18n.LANGUAGES:
        return configured
    return i18n.locale_language() or "nl"


pass_env = click.make_pass_decorator(Env)


@click.group(cls=CaseloadGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--db", "db_path", envvar="CASELOAD_DB", type=click.Path(dir_okay=False))
@click.option("--config", "config_path", envvar="CASELOAD_CONFIG", type=click.Path(dir_okay=False))
@click.option("--lang", type=click.Choice(["nl", "en"]))
@click.version_option(package_name="caseload")
@click.pass_context
def main(ctx, db_path, config_path, lang):
    ctx.obj = Env(config_path, db_path, lang)
    logging.basicConfig(level=os.environ.get("CASELOAD_LOG", "WARNING").upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def load_all() -> None:
    """Import every command module (for tools that walk `main.commands`)."""
    for module in sorted(set(COMMANDS.values())):
        importlib.import_module(f"{__name__}.{module}")


def run() -> None:
    """The `caseload` console script. sqlite-utils imports pandas and numpy whenever they are
    installed, to adapt their values; caseload never hands it either (the reports use numpy on
    their own), and importing them cost 0.6 s of every start (0.12 s numpy alone)."""
    sys.modules.setdefault("pandas", None)
    if "sqlite_utils" not in sys.modules and "numpy" not in sys.modules:
        sys.modules["numpy"] = None  # an import of it fails, and sqlite-utils goes without
        try:
            import sqlite_utils  # noqa: F401
        finally:
            del sys.modules["numpy"]
    try:
        try:
            main()
        finally:
            sys.stdout.flush()  # what is still buffered goes now, while a closed pipe can be caught
    except BrokenPipeError:
        closed_pipe()
