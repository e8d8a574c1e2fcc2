"""Anchoring on Bitcoin: the Birth Record and the log's checkpoints as a single-use seal chain
(anchorer, store, tx), the node's JSON-RPC (rpc), evidence for receipts (evidence) and the walk
of a D-TA's history (history). `dta anchor ...` is its command group."""
