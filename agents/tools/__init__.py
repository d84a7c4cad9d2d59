"""The tool-calling scaffold (SWE-agent style): native tool calls against a small agent-computer interface."""
