"""A BSP traffic simulator: logs replies the way the agent does, then posts the status webhooks a BSP sends.

    python main.py simulate --messages 1000 --orgs 5 --seed 1

`plan` makes the deterministic, realistically out-of-order traffic of a seed, `expected` the final state every
message must reach under the merge rules (docs/design.md, merge rules), `send` posts it to the service and
`check` compares a database with it. It only ever talks to 127.0.0.1, is bounded in messages and in time,
and stops by itself.
"""

from simulator.cli import main

__all__ = ["main"]
