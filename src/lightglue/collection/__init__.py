"""From a folder of photos to a 3D model.

Modules (each small and importable on its own; nothing heavy is imported here):

- :mod:`~lightglue.collection.pairs`: which image pairs to match (exhaustive, sequential,
  from a file, retrieval by global descriptors pooled from the local features);
- :mod:`~lightglue.collection.h5store`: HDF5 files grown by atomic, kill-safe appends;
- :mod:`~lightglue.collection.features_h5`, :mod:`~lightglue.collection.matches_h5`:
  hloc-compatible ``features.h5`` / ``matches.h5``;
- :mod:`~lightglue.collection.colmap_db`: a COLMAP database with verified two-view geometries;
- :mod:`~lightglue.collection.reconstruct`: incremental mapping with pycolmap and its summary;
- :mod:`~lightglue.collection.render`: PNG pictures of a reconstruction;
- :mod:`~lightglue.collection.scene`: a reconstruction as arrays, its outliers and viewing axes;
- :mod:`~lightglue.collection.viewer_reconstruction`, :mod:`~lightglue.collection.viewer_matches`:
  offline HTML pages (interactive 3D view, match browser);
  :mod:`~lightglue.collection.viewer_snapshot`: their screenshots by headless Chromium;
- :mod:`~lightglue.collection.presets`: named extractor + matcher configurations;
- :mod:`~lightglue.collection.pipeline`: the stages chained, with overlapped I/O.
"""
