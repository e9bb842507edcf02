#!/usr/bin/python3
"""Writes the expected outputs of Pillow's resize (Debian's python3-pil) for
tests/io/pil_resample_test.cpp into tests/io/pil_resize/: random 8-bit RGB
pictures of odd sizes, each resized with every convolution filter to a
smaller, a larger and a mixed size, plus two whole processor pipelines
written from Hugging Face's definitions: CLIPImageProcessor (shortest edge
to the target with int() of the scaled long side, bicubic, then a centre crop
at (side - crop) // 2) and SiglipImageProcessor (bicubic straight to the
target size). Pictures are binary PPM files; cases.json lists them.

Usage: /usr/bin/python3 tests/python/make_pil_fixtures.py [--out-dir tests/io/pil_resize]"""
import argparse
import json
import os

import numpy as np
from PIL import Image

FILTERS = {"pil_bicubic": Image.BICUBIC, "pil_bilinear": Image.BILINEAR, "pil_lanczos": Image.LANCZOS,
           "pil_box": Image.BOX, "pil_hamming": Image.HAMMING}
# (input width, height) -> output sizes (width, height): reduction, enlargement, one of each.
SIZES = {(37, 23): [(16, 11), (53, 29), (61, 9)], (7, 5): [(19, 13), (3, 2)]}


def clip_processor(img, side):
    """CLIPImageProcessor: resize the shorter side to `side` (the longer one
    int(side * long / short)), bicubic; centre crop side x side."""
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    new_long = int(side * long / short)
    size = (side, new_long) if w <= h else (new_long, side)
    resized = img.resize(size, Image.BICUBIC)
    top, left = (resized.size[1] - side) // 2, (resized.size[0] - side) // 2
    return resized.crop((left, top, left + side, top + side))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out-dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "io",
                                                           "pil_resize"))
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    rng = np.random.default_rng(27)
    cases = []
    for (w, h), outs in SIZES.items():
        source = "in_%dx%d.ppm" % (w, h)
        img = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        img.save(os.path.join(args.out_dir, source))
        for name, code in FILTERS.items():
            for ow, oh in outs:
                out = "%s_%dx%d_%s.ppm" % (source[:-4], ow, oh, name)
                img.resize((ow, oh), code).save(os.path.join(args.out_dir, out))
                cases.append({"input": source, "resample": name, "resize": "stretch", "size": [oh, ow],
                              "expected": out})
        if w > 8:
            out = "%s_clip16.ppm" % source[:-4]
            clip_processor(img, 16).save(os.path.join(args.out_dir, out))
            cases.append({"input": source, "resample": "pil_bicubic", "resize": "center_crop", "size": [16, 16],
                          "expected": out})
            # Portrait: the crop cuts rows.
            tall = img.transpose(Image.TRANSPOSE)
            tall_name = "in_%dx%d.ppm" % (h, w)
            tall.save(os.path.join(args.out_dir, tall_name))
            out = "%s_clip16.ppm" % tall_name[:-4]
            clip_processor(tall, 16).save(os.path.join(args.out_dir, out))
            cases.append({"input": tall_name, "resample": "pil_bicubic", "resize": "center_crop", "size": [16, 16],
                          "expected": out})
    with open(os.path.join(args.out_dir, "cases.json"), "w") as f:
        json.dump({"pillow": Image.__version__, "cases": cases}, f, indent=1)
    print("%d cases in %s (Pillow %s)" % (len(cases), args.out_dir, Image.__version__))


if __name__ == "__main__":
    main()
