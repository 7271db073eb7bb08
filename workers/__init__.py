"""arq worker pools: one WorkerSettings class per queue, with the resources its jobs share."""
