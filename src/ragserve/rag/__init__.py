"""Answering: rewrite → retrieve → pack the prompt → stream → cite."""
