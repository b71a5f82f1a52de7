"""`python -m fem_prdp.cli`, as the `fem-prdp` command."""

from . import command

command()
