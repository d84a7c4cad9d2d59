"""The bash-only scaffold: one fenced shell command per turn, in the mini-swe-agent spirit."""
