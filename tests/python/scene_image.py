"""The small test scene of the contract-extension tests: a grey 96 x 96
image with a red circle and a green square, written as PNG.

Usage: path = make_image(work_dir)   # work_dir/scene.png"""
import os

import cv2
import numpy as np


def make_image(work):
    img = np.full((96, 96, 3), 128, np.uint8)
    cv2.circle(img, (30, 35), 14, (40, 40, 220), -1)
    cv2.rectangle(img, (55, 55), (85, 85), (60, 180, 40), -1)
    path = os.path.join(work, "scene.png")
    cv2.imwrite(path, img)
    return path
