"""Other inference libraries' convolutions, run on the same shapes for same-run ratios."""
