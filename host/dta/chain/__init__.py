"""Bitcoin anchoring: JSON-RPC client, anchoring transactions, the anchorer, receipts."""
