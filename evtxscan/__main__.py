"""``python -m evtxscan``: the same as the ``evtxscan`` command."""

import sys

from evtxscan.cli import main

sys.exit(main())
