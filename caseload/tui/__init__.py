"""The coach's terminal: a Textual app, thin over the headless core (never imported by it)."""
