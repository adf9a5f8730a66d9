"""Offline catalog indexing, in three rooms tied together by ``indexer.runner``:

``sources`` (catalog in, ``Product`` records out) -> ``embedding`` (products in, vectors out) ->
``stores`` (vectors in, a versioned index folder out, and read back for search). The records they pass
along live in ``indexer.records``. Knows nothing about HTTP.
"""
