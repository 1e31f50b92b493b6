"""``python -m caseload``: the same command line as the ``caseload`` script."""

import sys

from caseload.cli import main

sys.exit(main())
