"""Virtual keys (/key/*): shown once, stored hashed."""
