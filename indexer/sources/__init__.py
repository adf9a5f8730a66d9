"""Catalog sources: a CSV, JSONL, image folder, Merchant Center feed or Shopify export (a path or a URL)
comes in; validated ``Product`` records and a skipped-row report come out, with images fetched from
URLs into a local, revalidated cache. Also the built-in demo catalog.
"""
