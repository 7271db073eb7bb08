"""Zitadel provisioning: signed Actions v2 events in, users of the mapped account out (through the workers)."""
