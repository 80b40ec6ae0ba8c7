"""`python -m bench`: run the benchmark, print the table, write the JSON."""

import sys

from bench.run import main

sys.exit(main(sys.argv[1:]))
