"""Training data: photo corpora, synthetic homography pairs, posed pairs, and their batching.

Modules: :mod:`.photos` (a folder of photos, checked and split), :mod:`.homographies` (random
homographies of the recipe), :mod:`.augment` (photometric augmentation), :mod:`.features`
(frozen extractors giving exactly K keypoints), :mod:`.homography_pairs`
(:class:`~.homography_pairs.HomographyPairs`), :mod:`.sampler`
(:class:`~.sampler.ResumableSampler`) and :mod:`.collate`. Nothing is imported here, so that
importing one module stays cheap.
"""
