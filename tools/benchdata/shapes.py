"""Shapes-VQA (docs/evaluation.md): noisy gray canvas, 2-4 objects of distinct
shape and colour, questions about colour or shape, the asked object's mask as
ground truth. Pure numpy so that every machine draws the same pixels."""
import numpy as np

from .vocab import load_vocab

SHAPES = ["circle", "square", "triangle", "cross"]
COLOR_NAMES = ["red", "green", "blue", "yellow", "purple"]


def shape_mask(shape, side, ys, xs):
    """Boolean mask of `shape` inscribed in a side x side box; ys/xs are pixel
    centres relative to the box's top-left corner."""
    u = (xs + 0.5) / side  # 0..1 across the box
    v = (ys + 0.5) / side
    inside = (u >= 0) & (u <= 1) & (v >= 0) & (v <= 1)
    if shape == "circle":
        return inside & ((u - 0.5) ** 2 + (v - 0.5) ** 2 <= 0.25)
    if shape == "square":
        return inside
    if shape == "triangle":  # apex at top centre, base along the bottom
        return inside & (np.abs(u - 0.5) <= 0.5 * v)
    if shape == "cross":  # plus sign, arms a third of the side thick
        arm = (np.abs(u - 0.5) <= 1 / 6) | (np.abs(v - 0.5) <= 1 / 6)
        return inside & arm
    raise ValueError("unknown shape " + shape)


def _place_boxes(rng, size, sides, tries=200):
    boxes = []
    for side in sides:
        for _ in range(tries):
            y = int(rng.integers(0, size - side + 1))
            x = int(rng.integers(0, size - side + 1))
            if all(y + side + 1 <= by or by + bs + 1 <= y or x + side + 1 <= bx or bx + bs + 1 <= x
                   for by, bx, bs in boxes):
                boxes.append((y, x, side))
                break
        else:
            return None
    return boxes


def make_scene(rng, size=96, vocab=None):
    """Returns (image uint8 [size, size, 3] RGB, objects) where each object is a
    dict with shape, color, box (y, x, side) and mask (bool [size, size])."""
    vocab = vocab or load_vocab()
    while True:
        count = int(rng.integers(2, 5))
        shapes = list(rng.choice(SHAPES, size=count, replace=False))
        colors = list(rng.choice(COLOR_NAMES, size=count, replace=False))
        lo, hi = int(np.ceil(0.18 * size)), int(np.floor(0.30 * size))
        sides = [int(rng.integers(lo, hi + 1)) for _ in range(count)]
        boxes = _place_boxes(rng, size, sides)
        if boxes is not None:
            break
    gray = int(rng.integers(90, 171))
    sigma = float(rng.uniform(0, 8))
    image = gray + rng.normal(0, sigma, size=(size, size, 3))
    yy, xx = np.mgrid[0:size, 0:size]
    objects = []
    for shape, color, (y, x, side) in zip(shapes, colors, boxes):
        mask = shape_mask(shape, side, yy - y, xx - x)
        rgb = np.array(vocab["colors"][color], dtype=np.float64)
        rgb = np.clip(rgb + rng.integers(-20, 21, size=3), 0, 255)
        image[mask] = rgb
        objects.append({"shape": str(shape), "color": str(color), "box": (y, x, side), "mask": mask})
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), objects


def make_question(rng, objects):
    """Picks an object and a question form; returns (question, answer, index)."""
    index = int(rng.integers(0, len(objects)))
    obj = objects[index]
    if rng.random() < 0.5:
        return "What color is the {}?".format(obj["shape"]), obj["color"], index
    return "What shape is the {} object?".format(obj["color"]), obj["shape"], index


def patch_labels(objects, size, grid=12, min_cover=0.25):
    """Per-patch (colour, shape) class of the object covering >= min_cover of
    the patch (0 = background), row-major; the benchmark's ground-truth rule."""
    colors = np.zeros(grid * grid, dtype=np.int64)
    shapes = np.zeros(grid * grid, dtype=np.int64)
    best = np.zeros(grid * grid)
    for obj in objects:
        cover = patch_coverage(obj["mask"], grid)
        better = (cover >= min_cover) & (cover > best)
        best[better] = cover[better]
        colors[better] = COLOR_NAMES.index(obj["color"]) + 1
        shapes[better] = SHAPES.index(obj["shape"]) + 1
    return colors, shapes


def patch_coverage(mask, grid=12):
    """Fraction of each patch (row-major, grid x grid, edges rounded from
    equal division of the image) that the boolean mask covers."""
    height, width = mask.shape
    rows = np.linspace(0, height, grid + 1).round().astype(int)
    cols = np.linspace(0, width, grid + 1).round().astype(int)
    integral = np.zeros((height + 1, width + 1))
    integral[1:, 1:] = mask.cumsum(0).cumsum(1)
    sums = (integral[rows[1:]][:, cols[1:]] - integral[rows[:-1]][:, cols[1:]]
            - integral[rows[1:]][:, cols[:-1]] + integral[rows[:-1]][:, cols[:-1]])
    areas = np.outer(np.diff(rows), np.diff(cols))
    return (sums / areas).reshape(-1)
