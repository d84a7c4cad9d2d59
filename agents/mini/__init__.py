"""agent=mini: mini-swe-agent's SWE-bench protocol (the bash-only leaderboard's) on ATLAS."""
