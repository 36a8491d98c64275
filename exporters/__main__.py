"""`python -m exporters` runs swarmlet-exporter."""

import sys

from exporters.cli import main

sys.exit(main())
