"""Pixels in, vectors and faces out: image decoding, CLIP embeddings, face landmarks, makeup.

Nothing here knows about HTTP or the catalog; ``app`` and ``indexer`` depend on this package.
"""
