"""The ``voice-agent`` command: run the stack locally, talk to it, report each turn against the budget."""
