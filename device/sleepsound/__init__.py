"""sleepsound: a bedside sleep-sound daemon for the Raspberry Pi."""

import os

# The noise generators run small matrix products (see sources/generators.py) on the
# audio thread. OpenBLAS would spread each one over every core, and its idle worker
# threads spin while they wait: on a 2-core machine that doubled the CPU of pink noise,
# for no gain at these sizes. Set before numpy loads; an explicit setting still wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
