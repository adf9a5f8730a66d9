"""Index versions: products and their vectors come in; a version folder (manifest, product table,
FAISS files or a Milvus collection) comes out, switched in atomically; ``index_store`` reads the live
version back and answers filtered searches for the server.
"""
