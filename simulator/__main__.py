"""`python -m simulator`: the same command as `python main.py simulate`."""

import sys

from simulator import main

sys.exit(main(sys.argv[1:]))
