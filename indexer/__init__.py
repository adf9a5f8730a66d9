"""Offline catalog indexing: catalog reader -> embedding mapper -> versioned FAISS index writer.

Knows nothing about HTTP; the app reads what this package writes through ``indexer.store``.
"""
