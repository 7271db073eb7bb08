"""Invitations into an account: invite, list, delete; open and accept a link."""
