"""`python -m storemon_pipeline.simulate`, the same as `storemon simulate`."""

import sys

from storemon_pipeline.simulate.command import main

sys.exit(main())
