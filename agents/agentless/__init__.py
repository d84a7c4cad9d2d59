"""The Agentless-style scaffold: localize, sample candidate edits, validate them with tests, vote."""
