"""``python -m rag.cli``: the ``shanhai`` command without the console script."""

import sys

from rag.cli import main

sys.exit(main())
