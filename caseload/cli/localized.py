"""click in the UI language.

Every command's and option's help lives in one place, locale/<lang>/help.toml, under the
command's path (`[help."client set"]`: `text` for the command, `"--source"` for an option;
`[help.options]` for options many commands share), never in the code. click's own words
("Usage:", "Options:", "Error: No such option") are looked up by their English text in
locale/<lang>/click.toml: click asks gettext for them, and `install()` puts our lookup where
click's modules call it. Metavars (NUMBER, KEY=VALUE..., TEXT) are translated word by word
(`[metavar]`). A command or option whose help is missing falls back to what the code says, and
tests/test_coach_language.py names it.
"""

import re

import click
from click import core, decorators, exceptions, formatting, parser, termui, types, utils

from .. import i18n


def _text(key: str) -> str | None:
    return i18n.texts(i18n.language()).get(key) or i18n.texts("en").get(key)


def gettext(message: str) -> str:
    return _text("click." + message) or message


def ngettext(singular: str, plural: str, n: int) -> str:
    return _text(f"click.{singular}.{'one' if n == 1 else 'other'}") or (singular if n == 1 else plural)


def install() -> None:
    """click's own words in the UI language, chosen when they are shown."""
    for module in (core, decorators, exceptions, formatting, parser, termui, types, utils):
        if hasattr(module, "_"):
            module._ = gettext
        if hasattr(module, "ngettext"):
            module.ngettext = ngettext


def command_key(path: tuple[str, ...]) -> str:
    return "help." + (" ".join(path) or "caseload")


def option_name(param: click.Parameter) -> str:
    return max(param.opts, key=len) if param.opts else param.name or ""


def help_for(path: tuple[str, ...], param: click.Parameter) -> str | None:
    name = option_name(param)
    return _text(f"{command_key(path)}.{name}") or _text(f"help.options.{name}")


_METAVAR_WORD = re.compile(r"[A-Z][A-Z_]*(?: RANGE)?")


def metavar(text: str) -> str:
    """NUMBER -> NUMMER, KEY=VALUE... -> SLEUTEL=WAARDE...: each upper-case word from [metavar]."""
    return _METAVAR_WORD.sub(lambda m: _text("metavar." + m.group()) or m.group(), text)


def _param_help(self):
    command = self.__dict__.get("command")
    found = help_for(command.path, self) if command is not None else None
    return found or self.__dict__.get("help")


def _set_param_help(self, value):
    self.__dict__["help"] = value


class LocalizedOption(click.Option):
    """click's Option with help and metavar in the UI language (`help` from help.toml)."""

    help = property(_param_help, _set_param_help)

    def make_metavar(self, ctx):
        return metavar(super().make_metavar(ctx))


class LocalizedArgument(click.Argument):
    help = property(_param_help, _set_param_help)

    def make_metavar(self, ctx):
        return metavar(super().make_metavar(ctx))


def localize_param(param: click.Parameter, command: "LocalizedCommand") -> click.Parameter:
    if type(param) is click.Option:
        param.__class__ = LocalizedOption
    elif type(param) is click.Argument:
        param.__class__ = LocalizedArgument
    param.__dict__["command"] = command
    return param


class LocalizedCommand(click.Command):
    """A command whose help and usage speak the UI language; `path` is set when it joins a group."""

    path: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for param in self.params:
            localize_param(param, self)

    @property
    def help(self):
        return _text(command_key(self.path) + ".text") or self.__dict__.get("help")

    @help.setter
    def help(self, value):
        self.__dict__["help"] = value

    @property
    def options_metavar(self):
        return metavar(self.__dict__.get("options_metavar") or "") or None

    @options_metavar.setter
    def options_metavar(self, value):
        self.__dict__["options_metavar"] = value

    def get_help_option(self, ctx):
        option = super().get_help_option(ctx)
        if option is not None and option.__dict__.get("command") is not self:
            localize_param(option, self)
        return option


class LocalizedGroup(LocalizedCommand, click.Group):
    command_class = LocalizedCommand

    @property
    def subcommand_metavar(self):
        return metavar(self.__dict__.get("subcommand_metavar") or "")

    @subcommand_metavar.setter
    def subcommand_metavar(self, value):
        self.__dict__["subcommand_metavar"] = value

    def add_command(self, cmd, name=None):
        super().add_command(cmd, name)
        _set_path(cmd, (*self.path, name or cmd.name))


LocalizedGroup.group_class = LocalizedGroup


def _set_path(cmd, path: tuple[str, ...]) -> None:
    cmd.path = path
    for name, sub in getattr(cmd, "commands", {}).items():
        _set_path(sub, (*path, name))
