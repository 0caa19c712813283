"""One Textual Screen per module."""
