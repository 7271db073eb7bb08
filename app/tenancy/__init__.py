"""Tenancy: the current account of a request, and the scoped access layer over tenant-owned tables."""
