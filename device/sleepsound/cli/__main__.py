"""``python -m sleepsound.cli``: the same command line as ``sleepsound``."""

import sys

from sleepsound.cli import main

sys.exit(main())
