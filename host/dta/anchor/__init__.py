"""Anchoring on Bitcoin: the Birth Record and the log's checkpoints as a single-use seal chain
(anchorer, store, tx, funding, fees), any Core-compatible node's JSON-RPC (rpc: the client;
capabilities: what the node can do, probed; replies: the shape of its answers; refusal: why it
refuses a transaction), evidence for receipts (evidence) and the walk of a D-TA's history
(history). `dta anchor ...` is its command group."""
