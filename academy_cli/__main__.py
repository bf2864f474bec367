from academy_cli.main import cli

cli()
