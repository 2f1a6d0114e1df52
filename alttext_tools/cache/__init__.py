"""The committed alt-text cache: keys, the file format, the writer lock, the in-memory store, providers."""
