"""The daemon: the scheduled loop (loop.py) and the inbound HTTP endpoint (webhooks.py), thin
over the core. The core never imports this package."""
