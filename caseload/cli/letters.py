"""`caseload letter`: letters for clients who prefer post."""

import click

from .. import files, letters as core
from ..i18n import t
from . import main, pass_env
from .output import note


@main.command("letter")
@click.option("--template", "template_name", required=True)
@click.option("--segment")
@click.option("--format", "fmt", type=click.Choice(core.FORMATS), default="html", show_default=True)
@click.option("--output")
@click.option("--force", is_flag=True)
@pass_env
def letter(env, template_name, segment, fmt, output, force):
    example = f"sudo -u caseload caseload letter --template {template_name} > letters.{fmt}"
    own = env.own_files()
    files.check_output(output, "--output", example, own, force)
    store, actor = env.store(), env.actor()
    plan = core.plan_letters(store, actor, template_name, segment)
    if plan.skipped:
        note(t("letters.skipped", reasons=", ".join(f"{t('letters.reason.' + k)} {n}"
                                                    for k, n in sorted(plan.skipped.items()))))
    with files.open_output(output, "--output", example, own, force) as out:
        n = core.write(store, actor, plan, out, fmt)
    note(t("letters.written", n=n, file=output if output and not files.is_stdio(output) else "-"))
