"""Swift v1 and S3 proxy in front of the storage nodes (not built yet)."""
