"""Side-by-side benchmark of reelgate and LiteLLM proxy on one fake upstream.

Run it with ``make bench-peers`` (or ``python bench/peers/run.py --help``).
"""
