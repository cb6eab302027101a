"""The block store: a Cinder v3 compatible volume service (port 8776) and its volume
manager (file or memory backends, iSCSI exports through tgt or LIO)."""
