"""The pure policy core: no I/O, no clock reads. Time and state come in as arguments."""
