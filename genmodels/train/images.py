"""Sample grids: uint8 image tiles or 2-D point scatter plots, as PNG."""

import io
import math

import numpy as np
from etils import epath
from PIL import Image


def image_grid(images: np.ndarray, columns: int | None = None, pad: int = 1) -> np.ndarray:
    """Tiles uint8 [N, H, W, C] images into one uint8 [rows*(H+pad)-pad, ..., C] image."""
    n, h, w, c = images.shape
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    grid = np.full((rows * (h + pad) - pad, columns * (w + pad) - pad, c), 255, np.uint8)
    for i, image in enumerate(images):
        r, col = divmod(i, columns)
        grid[r * (h + pad):r * (h + pad) + h, col * (w + pad):col * (w + pad) + w] = image
    return grid


def scatter_image(points: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """Renders 2-D points (and optional reference points, e.g. mixture modes) to a uint8 image."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 4), dpi=80)
    ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.5)
    if reference is not None:
        ax.scatter(reference[:, 0], reference[:, 1], s=30, marker="x", color="red")
    ax.set_aspect("equal")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return np.asarray(Image.open(buffer).convert("RGB"))


def samples_to_image(samples: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """A uint8 HWC picture of a batch of samples: a grid for images, a scatter plot for points."""
    if samples.ndim == 4:
        return image_grid(samples)
    return scatter_image(samples, reference)


def save_png(path, image: np.ndarray) -> None:
    """Writes a uint8 HWC image as PNG to `path` (local or remote, through etils.epath)."""
    if image.shape[-1] == 1:
        image = image[..., 0]
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="png")
    path = epath.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
