"""Sweeps over conv shapes, the tables and plots made from them, decision tables and regression checks.

A sweep spec (YAML or TOML, `experiments/sweeps/`) names a grid; `grid` expands it into groups of
candidates timed together; `runner` times them and `store` appends the tidy rows atomically under
`results/<device-id>/`. `decide` turns results into the decision table that algo="auto" reads.
"""
