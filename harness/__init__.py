"""Scoring: grading predictions with the official swebench harness, and the tables that report it."""
