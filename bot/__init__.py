"""Answering and the interfaces over it: the answer service, the CLI and the Discord bot."""
