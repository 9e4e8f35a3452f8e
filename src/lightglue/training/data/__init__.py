"""Training data: photo corpora, synthetic homography pairs, posed pairs, and their batching.

Modules: :mod:`.photos` (a folder of photos, checked and split), :mod:`.homographies` (random
homographies of the recipe), :mod:`.augment` (photometric augmentation), :mod:`.features`
(frozen extractors giving exactly K keypoints), :mod:`.cache` (the atomic on-disk feature
cache), the datasets :class:`~.homography_pairs.HomographyPairs`,
:class:`~.megadepth.MegaDepthPairs` and :class:`~.colmap_pairs.ColmapPairs`, two of them mixed
(:class:`~.mixed.MixedPairs`), synthetic posed scenes in the MegaDepth layout (:mod:`.scenes`),
:class:`~.sampler.ResumableSampler` and :func:`~.collate.collate`. Nothing is imported here,
so that importing one module stays cheap.
"""
