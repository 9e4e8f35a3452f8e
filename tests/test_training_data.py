"""Training data: photo corpus, random homographies, augmentation, the resumable sampler and
homography pairs (determinism, geometry, ground truth, cache, split)."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from lightglue.training.data.augment import NO_AUGMENTATION, AugmentConfig, augment
from lightglue.training.data.homographies import (
    HomographyConfig,
    homography_to_patch,
    sample_quadrilateral,
    sample_view_pair,
    warp_view,
)
from lightglue.training.data.homography_pairs import HomographyPairs, collate
from lightglue.training.data.photos import scan_photos, split_of
from lightglue.training.data.sampler import ResumableSampler

SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "motorcycle_left", "brick", "gravel", "grass", "camera")
SMALL = HomographyConfig(patch_size=(320, 240))


def _skimage_file(name: str) -> Path:
    skimage = pytest.importorskip("skimage")
    folder = Path(skimage.__file__).parent / "data"
    matches = sorted(folder.glob(f"{name}.*"))
    if not matches:
        pytest.skip(f"scikit-image sample image {name} is not installed")
    return matches[0]


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory) -> Path:
    """A corpus of scikit-image sample photos in nested folders (RGB JPEG / PNG)."""
    root = tmp_path_factory.mktemp("photos")
    for i, name in enumerate(SKIMAGE_PHOTOS):
        image = cv2.imread(str(_skimage_file(name)), cv2.IMREAD_COLOR)
        folder = root / ("a" if i % 2 else "b/c")
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"{name}.{'png' if i % 3 else 'jpg'}"), image)
    return root


def _pairs(root: Path, **kwargs) -> HomographyPairs:
    defaults = dict(features="sift", num_keypoints=128, homography=SMALL, split="all", min_photos=1)
    return HomographyPairs(root, **{**defaults, **kwargs})


# -- photos -------------------------------------------------------------------------------


def test_unreadable_and_small_photos_are_reported_and_skipped(photo_dir, tmp_path, caplog):
    root = tmp_path / "corpus"
    root.mkdir()
    for path in sorted(photo_dir.rglob("*.*"))[:3]:
        (root / path.name).write_bytes(path.read_bytes())
    (root / "broken.jpg").write_bytes(b"not a jpeg at all")
    cv2.imwrite(str(root / "tiny.png"), np.full((40, 60, 3), 128, np.uint8))
    (root / "notes.txt").write_text("not an image")
    with caplog.at_level(logging.WARNING):
        corpus = scan_photos(root, min_side=64)
    assert sorted(corpus.photos) == sorted(p.name for p in sorted(photo_dir.rglob("*.*"))[:3])
    reasons = dict(corpus.rejected)
    assert set(reasons) == {"broken.jpg", "tiny.png"}
    assert "not a readable image" in reasons["broken.jpg"]
    assert "60x40" in reasons["tiny.png"]
    assert "broken.jpg" in caplog.text and "tiny.png" in caplog.text
    dataset = _pairs(root, min_photo_side=64)
    assert "broken.jpg" not in dataset.photos and dict(dataset.rejected).keys() == {"broken.jpg", "tiny.png"}


def test_too_few_usable_photos_is_a_clear_error(photo_dir, tmp_path):
    root = tmp_path / "few"
    root.mkdir()
    (root / "broken.png").write_bytes(b"\x89PNG garbage")
    (root / "ok.png").write_bytes(next(photo_dir.rglob("*.png")).read_bytes())
    with pytest.raises(ValueError, match=r"1 usable photo\(s\).*at least 3 are needed"):
        scan_photos(root, min_photos=3)
    with pytest.raises(ValueError, match="at least 8 are needed"):
        HomographyPairs(root, split="all", min_photos=8)
    with pytest.raises(FileNotFoundError):
        scan_photos(tmp_path / "missing")


def test_split_is_a_deterministic_partition_by_path(photo_dir):
    names = [f"dir{i // 10}/photo_{i}.jpg" for i in range(400)]
    val = [n for n in names if split_of(n, 0.1) == "val"]
    assert 20 <= len(val) <= 60  # about 10 %
    assert val == [n for n in names if split_of(n, 0.1) == "val"]
    assert all(split_of(n, 0.0) == "train" and split_of(n, 1.0) == "val" for n in names)
    train = scan_photos(photo_dir, "train", val_fraction=0.5).photos
    held_out = scan_photos(photo_dir, "val", val_fraction=0.5).photos
    assert train and held_out and not set(train) & set(held_out)
    assert sorted(train + held_out) == scan_photos(photo_dir, "all").photos


# -- homographies -------------------------------------------------------------------------


def test_quadrilaterals_stay_in_the_photo_and_map_to_the_patch():
    rng = np.random.default_rng(0)
    conf = HomographyConfig()
    areas = []
    for size in [(640, 480), (480, 640), (1024, 300)]:
        extent = np.array(size) - 1.0
        for _ in range(200):
            corners = sample_quadrilateral(size, conf, rng)
            assert np.all(corners >= 0) and np.all(corners <= extent)
            H = homography_to_patch(corners, conf.patch_size)
            projected = cv2.perspectiveTransform(corners[None], H)[0]
            w, h = conf.patch_size
            np.testing.assert_allclose(projected, [[0, 0], [0, h - 1], [w - 1, h - 1], [w - 1, 0]], atol=1e-3)
            x, y = corners.T
            areas.append(0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))) / np.prod(extent))
    # difficulty 0.7: the view shows between about 9 % and 100 % of the photo, often much less than all
    assert 0.05 < min(areas) < 0.5 and max(areas) <= 1.0 and np.median(areas) < 0.8
    identity = homography_to_patch(sample_quadrilateral((640, 480), HomographyConfig(difficulty=0.0), rng), (640, 480))
    np.testing.assert_allclose(identity, np.eye(3), atol=1e-6)


def test_view_pair_homography_matches_the_pixels():
    photo = cv2.imread(str(_skimage_file("astronaut")), cv2.IMREAD_COLOR)
    rng = np.random.default_rng(3)
    view0, view1, H_0to1 = sample_view_pair(photo, SMALL, rng)
    assert view0.shape == view1.shape == (240, 320, 3)
    # Warping view 0 by H_0to1 must reproduce view 1 where view 0 is defined.
    predicted = warp_view(view0, H_0to1, SMALL.patch_size)
    inside = warp_view(np.full(view0.shape[:2], 255, np.uint8), H_0to1, SMALL.patch_size) == 255
    inside = cv2.erode(inside.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert inside.mean() > 0.05
    error = np.abs(predicted.astype(float) - view1.astype(float))[inside].mean()
    shuffled = np.abs(predicted.astype(float) - np.roll(view1, 37, axis=1).astype(float))[inside].mean()
    assert error < 12 and error < 0.5 * shuffled


# -- augmentation -------------------------------------------------------------------------


def test_augmentation_is_deterministic_and_does_something():
    image = cv2.imread(str(_skimage_file("coffee")), cv2.IMREAD_COLOR)[..., ::-1].copy()
    always = AugmentConfig(p=1.0, gamma=1.0, hsv=1.0, one_of=1.0, blur=1.0, motion_blur=1.0,
                           brightness_contrast=1.0, clahe=1.0)  # fmt: skip
    outputs = []
    for seed in range(6):
        a = augment(image, np.random.default_rng(seed), always)
        b = augment(image, np.random.default_rng(seed), always)
        assert a.dtype == np.uint8 and a.shape == image.shape
        assert np.array_equal(a, b)
        assert np.abs(a.astype(int) - image).mean() > 2
        outputs.append(a)
    assert all(not np.array_equal(outputs[0], o) for o in outputs[1:])
    assert np.array_equal(augment(image, np.random.default_rng(0), NO_AUGMENTATION), image)
    changed = [not np.array_equal(augment(image, np.random.default_rng(s)), image) for s in range(40)]
    assert 0.5 < np.mean(changed) < 1.0  # the recipe's probabilities: most, not all, images change
    with pytest.raises(ValueError, match="RGB uint8"):
        augment(image.astype(np.float32), np.random.default_rng(0))


# -- sampler ------------------------------------------------------------------------------


def test_sampler_order_depends_on_seed_and_epoch_only():
    a, b = ResumableSampler(50, 8, seed=1), ResumableSampler(50, 8, seed=1)
    assert len(a) == 6 and list(a) == list(b)
    first = list(a)
    flat = sum(first, [])
    assert len(set(flat)) == 48 and set(flat) <= set(range(50))
    a.set_epoch(1)
    assert list(a) != first
    assert list(ResumableSampler(50, 8, seed=2)) != first


def test_sampler_resumes_mid_epoch_with_the_same_order():
    reference = ResumableSampler(30, 4, seed=7)
    full = []
    for _ in range(3):  # three epochs of 7 batches
        full += list(reference)
        reference.advance(len(reference))
    run = ResumableSampler(30, 4, seed=7)
    consumed = []
    while len(consumed) < 10:  # "killed" after 10 steps: epoch 1, batch 3
        for batch in run:
            consumed.append(batch)
            run.advance()
            if len(consumed) == 10:
                break
    state = run.state_dict()
    assert (state["epoch"], state["batch"]) == (1, 3)
    resumed = ResumableSampler(30, 4, seed=7)
    resumed.load_state_dict(state)
    while resumed.epoch < 3:
        for batch in resumed:
            consumed.append(batch)
            resumed.advance()
    assert consumed == full
    with pytest.raises(ValueError, match="seed"):
        ResumableSampler(30, 4, seed=8).load_state_dict(state)


def test_sampler_rank_slices_concatenate_to_the_single_process_batches():
    single = ResumableSampler(37, 6, seed=3)
    ranks = [ResumableSampler(37, 6, seed=3, world_size=3, rank=r) for r in range(3)]
    for epoch in range(2):
        for s in (single, *ranks):
            s.set_epoch(epoch)
        for whole, *parts in zip(single, *ranks):
            assert len(parts[0]) == 2 and sum(parts, []) == whole
    with pytest.raises(ValueError, match="multiple of world_size"):
        ResumableSampler(37, 5, seed=3, world_size=2, rank=0)


# -- homography pairs ---------------------------------------------------------------------


def test_homography_pairs_are_deterministic(photo_dir):
    a, b = _pairs(photo_dir, seed=5), _pairs(photo_dir, seed=5)
    other = _pairs(photo_dir, seed=6)
    for index in (0, 4):
        sa, sb, so = a[index], b[index], other[index]
        assert sa.keys() == sb.keys()
        for key, value in sa.items():
            if isinstance(value, torch.Tensor):
                assert torch.equal(value, sb[key]), key
            else:
                assert value == sb[key]
        assert not torch.equal(sa["H_0to1"], so["H_0to1"])
        assert not torch.equal(sa["keypoints0"], so["keypoints0"])


def test_homography_pairs_sample_and_ground_truth(photo_dir):
    dataset = _pairs(photo_dir, seed=0, pairs_per_photo=2, return_images=True)
    assert len(dataset) == 2 * len(SKIMAGE_PHOTOS)
    batch = collate([dataset[i] for i in (0, 1, 9)])
    k = 128
    assert batch["keypoints0"].shape == (3, k, 2) and batch["descriptors1"].shape == (3, k, 128)
    assert batch["scales0"].shape == batch["oris1"].shape == (3, k)
    assert batch["gt_matches0"].dtype == torch.int64 and batch["gt_assignment"].shape == (3, k, k)
    assert batch["image0"].shape == (3, 3, 240, 320) and batch["H_0to1"].shape == (3, 3, 3)
    assert torch.equal(batch["image_size0"], torch.tensor([[320.0, 240.0]] * 3))
    assert batch["names"][0].endswith("#0") and batch["names"][2].split("#")[0] == batch["names"][0].split("#")[0]
    assert torch.all((batch["keypoints0"] >= 0) & (batch["keypoints0"] <= batch["image_size0"][:, None] - 1))
    # top-K by score: the kept keypoints are sorted strongest first
    assert torch.all(batch["keypoint_scores0"][:, 1:] <= batch["keypoint_scores0"][:, :-1])
    # ground truth: GT partners are mutual, and the descriptors agree with the geometry: the
    # nearest descriptor of a GT-matched keypoint is mostly its GT partner.
    m0, m1 = batch["gt_matches0"], batch["gt_matches1"]
    matched = m0 >= 0
    assert matched.sum() > 0.15 * matched.numel()
    assert torch.all(m1.gather(1, m0.clamp(min=0))[matched] == torch.arange(k).expand(3, k)[matched])
    assert torch.equal(batch["gt_assignment"].sum(-1) > 0, matched)
    similarity = batch["descriptors0"] @ batch["descriptors1"].transpose(1, 2)
    nearest = similarity.argmax(-1)
    assert (nearest[matched] == m0[matched]).float().mean() > 0.5
    # the geometry: GT-matched keypoints reproject within 3 px through H_0to1
    kp0 = torch.cat([batch["keypoints0"], torch.ones(3, k, 1)], -1) @ batch["H_0to1"].transpose(1, 2)
    kp0 = kp0[..., :2] / kp0[..., 2:]
    partner = batch["keypoints1"].gather(1, m0.clamp(min=0)[..., None].expand(-1, -1, 2))
    assert torch.all((kp0 - partner).norm(dim=-1)[matched] <= 3.0 + 1e-4)
    # the images returned are the views the keypoints were extracted from
    sample = dataset[0]
    _, view0, _, _ = dataset.views(0, dataset.extract(0)["attempt"].item())
    assert torch.equal(sample["image0"], torch.from_numpy(view0).permute(2, 0, 1).float() / 255)


def test_homography_pairs_cache_is_reused_and_atomic(photo_dir, tmp_path, monkeypatch):
    first = _pairs(photo_dir, seed=2, cache_dir=tmp_path / "cache")
    samples = [first[i] for i in range(3)]
    files = sorted((tmp_path / "cache").rglob("*"))
    assert len([f for f in files if f.suffix == ".npz"]) == 3
    assert not [f for f in files if ".tmp" in f.name]

    def no_extraction(*_args, **_kwargs):
        raise AssertionError("the cache should have been used")

    from lightglue.training.data import features

    monkeypatch.setattr(features.FrozenFeatures, "__call__", no_extraction)
    again = _pairs(photo_dir, seed=2, cache_dir=tmp_path / "cache")
    for i, sample in enumerate(samples):
        cached = again[i]
        assert all(torch.equal(v, cached[k]) for k, v in sample.items() if isinstance(v, torch.Tensor))
    with pytest.raises(AssertionError, match="cache should have been used"):
        _pairs(photo_dir, seed=3, cache_dir=tmp_path / "cache")[0]  # another seed is another key


def test_textureless_photos_are_dropped_with_a_reason(photo_dir, tmp_path):
    root = tmp_path / "flat"
    root.mkdir()
    cv2.imwrite(str(root / "flat.png"), np.full((300, 400, 3), 90, np.uint8))
    with pytest.raises(RuntimeError, match="no pair with 128 sift keypoints"):
        _pairs(root, max_attempts=2)[0]
    (root / "textured.png").write_bytes(next(photo_dir.rglob("*.png")).read_bytes())
    dataset = _pairs(root, max_attempts=10, same_photo_attempts=1)
    flat = dataset.photos.index("flat.png")
    sample = dataset[flat]
    assert sample["name"].startswith("textured.png#")
    assert dataset.dropped and "flat.png" in dataset.dropped[0][1] and "fewer than 128" in dataset.dropped[0][1]


def test_sift_top_k_equals_the_uncapped_extractor_top_k():
    from lightglue.extractors import SIFT
    from lightglue.training.data.features import FrozenFeatures

    view = cv2.imread(str(_skimage_file("astronaut")), cv2.IMREAD_COLOR)[::2, ::2, ::-1].copy()
    ours = FrozenFeatures("sift", 200)(view)
    image = torch.from_numpy(view).permute(2, 0, 1)[None].float() / 255
    full = SIFT(max_num_keypoints=None, nms_radius=3)({"image": image})
    best = torch.argsort(-full["keypoint_scores"][0], stable=True)[:200]
    assert full["keypoint_mask"].sum() > 400  # the cap of 2 K was reached: the claim is tested
    np.testing.assert_array_equal(ours["keypoints"], full["keypoints"][0, best].numpy())
    np.testing.assert_array_equal(ours["descriptors"], full["descriptors"][0, best].numpy())
    assert FrozenFeatures("sift", 100_000)(view) is None


def test_configs_from_dicts(photo_dir):
    dataset = _pairs(photo_dir, homography={"patch_size": [160, 128], "difficulty": 0.5}, augmentation={"p": 0.0})
    assert dataset.homography == HomographyConfig(difficulty=0.5, patch_size=(160, 128))
    assert dataset.augmentation == NO_AUGMENTATION
    with pytest.raises(TypeError, match="max_angel"):
        _pairs(photo_dir, homography={"max_angel": 30})


def test_dataloader_workers_give_the_same_batches(photo_dir):
    dataset = _pairs(photo_dir, seed=4, num_keypoints=64, homography=HomographyConfig(patch_size=(160, 128)))
    sampler = ResumableSampler(len(dataset), batch_size=2, seed=0)
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, num_workers=2)
    batches = [batch for _, batch in zip(range(2), loader)]
    for batch, indices in zip(batches, sampler):
        direct = collate([dataset[i] for i in indices])
        assert batch.keys() == direct.keys()
        assert all(torch.equal(v, direct[k]) for k, v in batch.items() if isinstance(v, torch.Tensor))


def test_a_photo_that_disappears_after_the_scan_is_dropped(photo_dir, tmp_path):
    root = tmp_path / "vanishing"
    root.mkdir()
    for path in sorted(photo_dir.rglob("*.png"))[:2]:
        (root / path.name).write_bytes(path.read_bytes())
    dataset = _pairs(root, same_photo_attempts=1)
    gone = dataset.photos[0]
    (root / gone).unlink()
    sample = dataset[0]
    assert not sample["name"].startswith(gone) and "No image at path" in dataset.dropped[0][1]
