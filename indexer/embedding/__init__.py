"""Embedding engines: ``Product`` records come in, one L2-normalised CLIP vector per product comes out.
``local_engine`` runs threads and this process's model, ``ray_engine`` a Ray Data job; both reuse and
fill the same embedding cache (model id + image sha256), so only new images are embedded.
"""
