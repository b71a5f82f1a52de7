"""`python -m fem_prdp.cli`, as the `fem-prdp` command."""

import sys

from . import main

sys.exit(main())
