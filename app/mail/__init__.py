"""Outgoing email: which SMTP server an account's mail goes through, the messages, the delivery."""
