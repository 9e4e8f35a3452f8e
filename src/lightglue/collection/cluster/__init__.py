"""The collection verbs on a Ray cluster (optional: ``pip install lightglue[cluster]``).

Modules (nothing here imports ``ray`` at import time):

- :mod:`~lightglue.collection.cluster.connect`: joining a cluster, sizing the worker pool;
- :mod:`~lightglue.collection.cluster.shards`: cutting the work into shards (images for
  extraction; the local path's match batches, grouped so each shard needs few images);
- :mod:`~lightglue.collection.cluster.actors`: the worker bodies (one extractor or matcher each);
- :mod:`~lightglue.collection.cluster.scheduler`: shards to actors, retries after lost workers,
  one progress bar, per-worker statistics;
- :mod:`~lightglue.collection.cluster.driver`: :func:`cluster_extract` and
  :func:`cluster_match`, the cluster twins of the local stages, writing through the same
  atomic parts.
"""
