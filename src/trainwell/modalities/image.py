"""Images: a folder with one sub-folder per class (``photos/cat/1.png``), read with Pillow.

Every image is decoded once, converted to one channel layout (RGB if any image has colour,
else grayscale) and resized to one size (``image.size``, else the median), and held in
memory as uint8. Unreadable files, mixed sizes or channels and near-duplicates across splits
(perceptual hash, confirmed on the pixels) are audit findings (TW-D01, TW-D06).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from trainwell.config import FitConfig, ImageOptions, Task
from trainwell.errors import ConfigError, DataError, did_you_mean
from trainwell.findings import Finding
from trainwell.modalities.base import Augment, DataSource, Inputs, Read, Samples
from trainwell.modalities.common import (
    NETWORK_OPTIONS,
    BaseModality,
    backbone_network,
    check_weights_file,
    hashed_near_copies,
    keyed_predictions,
    rows_dataset,
    write_served_files,
)
from trainwell.models import Choice, build_backbone, choose_architecture
from trainwell.models.vision import TimmBackbone, import_timm
from trainwell.split import Splits

SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
PATH, LABEL = "path", "label"
# Held in memory as uint8: above this many bytes, ask for a smaller image.size.
MAX_BYTES = 4 << 30
# Two images are near-duplicates when their 64-bit perceptual hashes differ in at most this
# many bits and their resized pixels differ by at most this share of the range on average
# (the pixel check keeps tiny images, whose hashes collide easily, from false alarms).
HASH_BITS = 4
PIXEL_TOLERANCE = 0.03


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)


def scan(folder: Path, target: str) -> pd.DataFrame:
    """One row per image file: its path and its class (the name of its sub-folder).

    Raises:
        DataError: no class sub-folders with images, or only one.
    """
    classes = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    rows = [(str(p), d.name) for d in classes for p in image_files(d)]
    filled = sorted({label for _, label in rows})
    if not filled:
        raise DataError(
            f"folder {str(folder)!r} has no class sub-folders with images "
            f"({', '.join(sorted(SUFFIXES))}); put each class in its own sub-folder: "
            f"{folder}/CLASS/IMAGE.png"
        )
    if len(filled) < 2:
        raise DataError(
            f"folder {str(folder)!r} has images of one class only ({filled[0]!r}); "
            "classification needs at least two class sub-folders"
        )
    return pd.DataFrame({PATH: [r[0] for r in rows], target: [r[1] for r in rows]})


def _decode(path: str) -> Any:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            return img.copy()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as err:
        return f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"


def _unreadable(paths: list[str], errors: list[str], limit: int) -> Finding:
    return Finding(
        id="unreadable-images",
        practice="TW-D01",
        severity="error",
        stage="audit",
        message=f"{len(paths)} image files cannot be read, e.g. {paths[0]!r} ({errors[0]}).",
        evidence={"files": paths[:limit], "errors": errors[:limit], "count": len(paths)},
        fix="Delete or re-export the corrupt files; to train without them: "
        "--allow unreadable-images",
    )


def _mixed(kind: str, counts: Counter[Any], target: Any, limit: int) -> Finding:
    shown = {str(k): v for k, v in counts.most_common(limit)}
    return Finding(
        id=f"inconsistent-image-{kind}",
        practice="TW-D01",
        severity="warning",
        stage="audit",
        message=f"The images have {len(counts)} different {kind} ({shown}); all were "
        f"converted to {target}.",
        evidence={kind: shown, "converted_to": str(target)},
        fix="Nothing to do if the conversion is right; otherwise export the images "
        f"consistently or set image.size={'N' if kind == 'sizes' else '...'}",
    )


def load(folder: Path, cfg: FitConfig, *, for_predict: dict[str, Any] | None = None) -> Samples:
    """Decode the images of ``folder`` into a :class:`Samples` (no run directory written).

    ``for_predict`` (a trained model's encoding) reads any folder of images (sub-folders
    optional) and converts them as at training time.

    Raises:
        DataError: no images, one class, or too many pixels to hold in memory.
    """
    import imagehash
    from PIL import Image

    target = cfg.data.target or LABEL
    if for_predict is None:
        frame = scan(folder, target)
    else:
        files = [folder] if folder.is_file() else image_files(folder)
        if not files:
            raise DataError(f"{str(folder)!r} holds no image files to predict")
        frame = pd.DataFrame({PATH: [str(p) for p in files]})
    images, bad, errors = [], [], []
    for path in frame[PATH]:
        img = _decode(path)
        if isinstance(img, str):
            bad.append(path)
            errors.append(img)
        images.append(img)
    findings: list[Finding] = []
    limit = cfg.audit.evidence_limit
    if bad:
        if for_predict is not None:
            raise DataError(f"cannot read image {bad[0]!r}: {errors[0]}")
        findings.append(_unreadable(bad, errors, limit))
        keep = [not isinstance(img, str) for img in images]
        frame = frame.loc[keep].reset_index(drop=True)
        images = [img for img in images if not isinstance(img, str)]
        if frame[target].nunique() < 2:
            raise DataError(f"no readable images of two classes in {str(folder)!r}")
    sizes = Counter((img.width, img.height) for img in images)
    modes = Counter(img.mode for img in images)
    if for_predict is not None:
        mode, (width, height) = for_predict["mode"], for_predict["size"]
    else:
        color = any(m not in {"1", "L", "LA", "I", "I;16", "F"} for m in modes)
        mode = "RGB" if color else "L"
        side = cfg.image.size
        width = side or int(np.median([img.width for img in images]))
        height = side or int(np.median([img.height for img in images]))
        if len(sizes) > 1:
            findings.append(_mixed("sizes", sizes, f"{width}x{height}", limit))
        if len(modes) > 1:
            findings.append(_mixed("channels", modes, mode, limit))
    channels = 3 if mode == "RGB" else 1
    if len(images) * channels * width * height > MAX_BYTES:
        raise DataError(
            f"{len(images)} images of {width}x{height} do not fit in memory; "
            "set a smaller image.size"
        )
    pixels = np.empty((len(images), channels, height, width), dtype=np.uint8)
    hashes = np.empty(len(images), dtype=np.uint64)
    for i, img in enumerate(images):
        img = img.convert(mode)
        if img.size != (width, height):
            img = img.resize((width, height), Image.Resampling.BILINEAR)
        array = np.asarray(img, dtype=np.uint8)
        pixels[i] = array[None] if channels == 1 else array.transpose(2, 0, 1)
        hashes[i] = int(str(imagehash.phash(img)), 16)
    encoding = {"modality": "image", "mode": mode, "size": [width, height]}
    return Samples(
        kind="image",
        frame=frame,
        key=PATH,
        inputs=(torch.from_numpy(pixels),),
        encoding=encoding,
        info={"images": len(images), "size": [width, height], "channels": channels},
        findings=findings,
        extras={
            "phash": hashes,
            "width": np.array([img.width for img in images], dtype=np.int64),
            "height": np.array([img.height for img in images], dtype=np.int64),
        },
    )


def check_near_duplicates(
    samples: Samples, splits: Splits, error_fraction: float, limit: int
) -> Finding | None:
    """Validation and test images that nearly copy a training image (TW-D06): perceptual
    hashes at most :data:`HASH_BITS` bits apart, confirmed by near-equal pixels."""
    hashes = samples.extras["phash"]
    pixels = samples.inputs[0].reshape(len(hashes), -1)

    def same(a: int, b: int) -> bool:
        distance = (pixels[a].float() - pixels[b].float()).abs().mean()
        return float(distance) <= PIXEL_TOLERANCE * 255

    return hashed_near_copies(
        hashes, same, splits, samples.frame[PATH].tolist(), max_bits=HASH_BITS, noun="image",
        signature="perceptual hash", error_fraction=error_fraction, limit=limit,
        fix="Remove the copies before training (keep one of each), or keep related images "
        "in one class folder split; to proceed knowingly: --allow near-duplicate-across-splits",
    )  # fmt: skip


def augmenter(
    cfg: ImageOptions, samples: Samples, enabled: bool = True
) -> tuple[Augment | None, dict[str, Any]]:
    """Flips, shift-crops and brightness/contrast jitter for the training batches (TW-D10).

    Written with tensor ops on the whole batch (torchvision.transforms.v2 does the same per
    image, but torchvision is an optional dependency here and batches are already tensors).
    """
    if not enabled:
        return None, {"enabled": False}
    _, channels, height, width = samples.inputs[0].shape
    glyphs = channels == 1 and max(height, width) <= 32
    flip = cfg.flip == "on" or (cfg.flip == "auto" and not glyphs)
    pad_h, pad_w = round(cfg.crop * height), round(cfg.crop * width)
    jitter = cfg.color_jitter

    def augment(inputs: Inputs, gen: torch.Generator) -> Inputs:
        x = inputs[0].float()
        n = x.shape[0]
        if flip:
            mirrored = torch.rand(n, generator=gen) < 0.5
            x = torch.where(mirrored[:, None, None, None], x.flip(3), x)
        if pad_h or pad_w:
            # A random crop of the edge-padded image, back to its size: a random shift.
            padded = torch.nn.functional.pad(x, (pad_w, pad_w, pad_h, pad_h), mode="replicate")
            dy = torch.randint(0, 2 * pad_h + 1, (n,), generator=gen)
            dx = torch.randint(0, 2 * pad_w + 1, (n,), generator=gen)
            rows = (dy[:, None] + torch.arange(height)[None]).clamp_max(padded.shape[2] - 1)
            cols = (dx[:, None] + torch.arange(width)[None]).clamp_max(padded.shape[3] - 1)
            idx = torch.arange(n)[:, None, None, None]
            ch = torch.arange(x.shape[1])[None, :, None, None]
            x = padded[idx, ch, rows[:, None, :, None], cols[:, None, None, :]]
        if jitter:
            bright = 1 + (torch.rand(n, 1, 1, 1, generator=gen) * 2 - 1) * jitter
            contrast = 1 + (torch.rand(n, 1, 1, 1, generator=gen) * 2 - 1) * jitter
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            x = ((x - mean) * contrast + mean) * bright
        return (x.clamp(0, 255),)

    why = "off: small one-channel images (glyphs, digits) change class when mirrored"
    return augment, {
        "flip": flip if not (glyphs and cfg.flip == "auto") else why,
        "crop_pixels": [pad_h, pad_w],
        "color_jitter": jitter,
    }


class PooledPixels:
    """Pixels averaged to ``side`` x ``side`` and scaled to [0, 1]: the linear baseline's
    features (TW-A08)."""

    def __init__(self, side: int) -> None:
        self.side = side

    def transform(self, samples: Samples) -> np.ndarray:
        x = samples.inputs[0].float()
        pooled = torch.nn.functional.adaptive_avg_pool2d(x, self.side)
        return pooled.reshape(len(x), -1).numpy() / 255.0

    def to_json(self) -> dict[str, Any]:
        return {"name": "pooled_pixels", "side": self.side}

    def module(self) -> torch.nn.Module:
        """The same features as a torch module of the pixel tensor (for export)."""
        return _PooledPixelsModule(self.side)


class _PooledPixelsModule(torch.nn.Module):
    def __init__(self, side: int) -> None:
        super().__init__()
        self.side = side

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.nn.functional.adaptive_avg_pool2d(x.float(), self.side)
        return pooled.reshape(x.shape[0], -1) / 255.0


class ImageModality(BaseModality):
    """A folder with one sub-folder per class (``photos/cat/1.png``)."""

    name = "image"
    served_files = True
    options = NETWORK_OPTIONS | {
        "image.size", "image.flip", "image.crop", "image.color_jitter"
    }  # fmt: skip

    def claims(self, data: DataSource, cfg: FitConfig) -> bool:
        # A folder of other files (sounds) is not images; an empty one is, to say what it lacks.
        folder = Path(data) if isinstance(data, str | Path) else None
        return (
            folder is not None
            and folder.is_dir()
            and (bool(image_files(folder)) or not any(p.is_file() for p in folder.rglob("*")))
        )

    def read(self, data: DataSource, cfg: FitConfig) -> Read:
        import hashlib

        from trainwell.data.load import file_sha256

        check_weights_file(cfg)
        if cfg.report.groups:
            raise ConfigError(
                "--groups needs columns beside the examples; a folder of images has none "
                "(per-group metrics work on tables and text)"
            )
        if cfg.model.name not in {"auto", "small_cnn"}:
            timm = import_timm()
            if cfg.model.name not in timm.list_models():
                raise ConfigError(
                    f"unknown image architecture model.name={cfg.model.name!r}"
                    f"{did_you_mean(cfg.model.name, timm.list_models())}; try small_cnn, "
                    "resnet18 or efficientnet_b0"
                )
        folder = Path(str(data))
        if not cfg.data.target:
            cfg.data.target = LABEL
        samples = load(folder, cfg)
        digest = hashlib.sha256()  # the folder's content: names relative to it, then bytes
        for path in sorted(samples.frame[PATH]):
            digest.update(str(Path(path).relative_to(folder)).encode())
            digest.update(bytes.fromhex(file_sha256(Path(path))))
        dataset = rows_dataset(samples.frame, cfg, str(data), digest.hexdigest(), samples.key)
        return Read(dataset, samples, str(folder.resolve()))

    def choose(self, read: Read, splits: Splits, cfg: FitConfig) -> Choice:
        assert read.samples is not None
        side = int(max(read.samples.inputs[0].shape[2:]))
        return choose_architecture(
            "image", cfg.model.name, n_train=len(splits.train), image_side=side,
            pretrained=cfg.model.pretrained,
        )  # fmt: skip

    def audit_checks(
        self, samples: Samples, splits: Splits, cfg: FitConfig
    ) -> list[Finding | None]:
        share, limit = cfg.audit.shared_rows_error_fraction, cfg.audit.evidence_limit
        return [check_near_duplicates(samples, splits, share, limit)]

    def build_network(
        self,
        samples: Samples,
        choice: Choice,
        task: Task,
        n_classes: int,
        y_train: np.ndarray,
        weighted: bool,
        cfg: FitConfig,
    ) -> tuple[torch.nn.Module, dict[str, Any]]:
        x = samples.inputs[0]
        channels = int(x.shape[1])
        transfer = None
        if choice.name == "small_cnn":
            # TW-A02: capacity for the image size: each stage halves the side (down to 4px).
            side = int(max(x.shape[2:]))
            width, stages = (16, 2) if side <= 16 else (32, 3) if side <= 32 else (32, 4)
            backbone: torch.nn.Module = build_backbone(
                {"name": "small_cnn", "in_channels": channels, "width": width, "stages": stages}
            )
        else:
            hub = cfg.model.download and choice.pretrained is None
            backbone = TimmBackbone(choice.name, channels, hub_weights=hub)
            if hub:
                transfer = {"pretrained": f"timm hub: {choice.name}"}
        return backbone_network(backbone, choice, samples, task, n_classes, y_train, cfg, transfer)

    def augmenter(self, samples: Samples, cfg: FitConfig) -> tuple[Augment | None, dict[str, Any]]:
        return augmenter(cfg.image, samples, cfg.augment.enabled)

    def baseline_features(self, train: Samples) -> PooledPixels:
        x = train.inputs[0]
        return PooledPixels(min(16, int(x.shape[2]), int(x.shape[3])))

    def predict_samples(self, data: DataSource, encoding: dict[str, Any], folder: Path) -> Samples:
        if isinstance(data, pd.DataFrame) or not Path(data).exists():
            raise DataError("an image model predicts a folder of images (or one image file)")
        return load(Path(data), FitConfig(), for_predict=encoding)

    def served_fields(self, encoding: dict[str, Any]) -> dict[str, str]:
        """One example is one image file's bytes, base64-encoded."""
        return {"image": "image"}

    def served_data(
        self, encoding: dict[str, Any], examples: list[dict[str, Any]], scratch: Path | None
    ) -> DataSource:
        """The images written into ``scratch`` as files named in the examples' order (the
        folder ``predict`` reads; Pillow decodes by content, so every file is ``.png``).

        Raises:
            DataError: an example is not base64.
        """
        return write_served_files(examples, "image", scratch, "image", lambda _: ".png")

    def drift_features(self, samples: Samples) -> dict[str, tuple[str, pd.Series]]:
        """Each image's size as read (pixels) and its mean brightness (0-255, after the
        conversion to the trained channels and size), and per colour channel its mean."""
        pixels = samples.inputs[0].float()
        features = {
            "width": ("numeric", pd.Series(samples.extras["width"], dtype=float)),
            "height": ("numeric", pd.Series(samples.extras["height"], dtype=float)),
            "brightness": ("numeric", pd.Series(pixels.mean(dim=(1, 2, 3)).numpy(), dtype=float)),
        }
        if pixels.shape[1] == 3:
            means = pixels.mean(dim=(2, 3)).numpy()
            for i, colour in enumerate(("red", "green", "blue")):
                features[f"{colour} mean"] = ("numeric", pd.Series(means[:, i], dtype=float))
        return features

    def predict_frame(self, samples: Samples, predictions: pd.DataFrame) -> pd.DataFrame:
        return keyed_predictions(samples, predictions)

    def load_features(self, spec: dict[str, Any]) -> PooledPixels:
        return PooledPixels(int(spec["side"]))
