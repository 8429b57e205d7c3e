"""``python -m evtxscan.cli``: the same as the ``evtxscan`` command."""

import sys

from evtxscan.cli.main import main

sys.exit(main())
