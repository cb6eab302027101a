"""Swift v1 proxy in front of the storage nodes: auth, placement, quorum, listings."""
