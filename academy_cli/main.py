"""``academy``: the operator's command line (local stack, tokens, maintenance, packaging)."""

from __future__ import annotations

import importlib

import click

# Each module defines ``register(cli)``; add new command modules here.
COMMAND_MODULES = [
    "academy_cli.token_cmd",
    "academy_cli.package_cmd",
    "academy_cli.up_cmd",
    "academy_cli.seed_cmd",
    "academy_cli.jobs_cmd",
    "academy_cli.tasks_cmd",
    "academy_cli.doctor_cmd",
    "academy_cli.users_cmd",
]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Academy Ops: run, operate and package the academy's back office."""
    from academy_cli.localenv import use_dev_auth

    use_dev_auth()  # the operator's commands mint dev tokens for the local stack (the app never defaults to it)


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(cli)
