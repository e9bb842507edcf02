#!/usr/bin/python3
"""Measures what exact processor pixels change (issue 27, part 0): a tiny
random LLaVA-1.5 (CLIP tower, image_size 32, centre crop, Hugging Face
layout from tests/python/make_hf_checkpoints.py) is imported, and the target's
clean cross-entropy of `atman explain` (sum over its tokens) is compared with
the float64 reference network fed the pixels of Hugging Face's
CLIPImageProcessor (Pillow's bicubic resize of the shortest edge, centre
crop; python3-pil), once with the imported config (image.resample
pil_bicubic) and once with the same model told "opencv" (the resize before
this change). Pictures: 64 x 64 and 80 x 56 (resized), 32 x 32 (no resize).

Usage: /usr/bin/python3 tools/measure_processor_pixels.py --atman build/atman --work-dir /tmp/pixels"""
import argparse
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if not __package__:
    # Run by path (`python3 tools/measure_processor_pixels.py`, as documented): import from the repository
    # root, as `python3 -m tools.measure_processor_pixels` does.
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from tests.python import make_hf_checkpoints as mk  # noqa: E402
from tests.python import reference_atman  # noqa: E402
from tests.python.reference_llama import ReferenceLlava  # noqa: E402

QUESTION, TARGET = "What is near the old red house?", "the cat on the hill"


def with_resample(model, out, resample):
    """The model file with its config's image.resample replaced."""
    extra = {"atman/config.json": "", "atman/tokenizer.model": ""}
    module = torch.jit.load(model, _extra_files=extra)
    config = json.loads(extra["atman/config.json"])
    config["image"]["resample"] = resample
    extra["atman/config.json"] = json.dumps(config)
    torch.jit.save(module, out, _extra_files=extra)


def atman_ce(binary, model, image, prompt, work):
    out = os.path.join(work, "ce.json")
    subprocess.run([binary, "explain", "--model", model, "--image", image, "--prompt", prompt, "--target", TARGET,
                    "--json", out, "--quiet"], check=True)
    return sum(t["ce"] for t in json.load(open(out))["targets"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--atman", required=True)
    parser.add_argument("--work-dir", required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.makedirs(args.work_dir, exist_ok=True)
    vision = dict(model_type="clip_vision_model", hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                  num_attention_heads=4, image_size=32, patch_size=8, layer_norm_eps=1e-5, hidden_act="quick_gelu")
    config = dict(architectures=["LlavaForConditionalGeneration"], model_type="llava", image_token_index=255,
                  vision_feature_layer=-1, vision_feature_select_strategy="default", projector_hidden_act="gelu",
                  text_config=dict(mk.llama_config(max_position_embeddings=128), architectures=None),
                  vision_config=vision)
    src = os.path.join(args.work_dir, "llava15")
    processor = {"crop_size": {"height": 32, "width": 32}, "do_center_crop": True, "size": {"shortest_edge": 32},
                 "resample": 3}
    weights = mk.write_llava_folder(src, config, seed=27, extra_json={"preprocessor_config.json": processor})
    model = os.path.join(args.work_dir, "llava15.pt")
    subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "torchscript_models", "import_checkpoint.py"), src,
                    "--out", model], check=True, capture_output=True)
    opencv = os.path.join(args.work_dir, "llava15_opencv.pt")
    with_resample(model, opencv, "opencv")

    class Ref(reference_atman.Reference):
        def __init__(self):
            import zipfile
            import sentencepiece as spm
            with zipfile.ZipFile(model) as z:
                extra = {n.split("/extra/", 1)[1]: z.read(n) for n in z.namelist() if "/extra/atman/" in n}
            self.config = json.loads(extra["atman/config.json"])
            self.sp = spm.SentencePieceProcessor()
            self.sp.LoadFromSerializedProto(extra["atman/tokenizer.model"])
            self.net = ReferenceLlava(weights, config)

        def embed_text(self, ids):
            return self.net.embed_text(ids)

        def embed_image(self, pixels):
            return self.net.embed_image(pixels)

        def logits(self, emb, modifier, control="multiplicative"):
            return self.net.logits(emb, modifier, control=control)

    ref = Ref()
    prompt = ref.config["prompt_template"].replace("{question}", QUESTION)
    rng = np.random.default_rng(27)
    print("picture   CE(HF pixels, float64)  |atman - HF| opencv (before)  |atman - HF| pil_bicubic (after)")
    for w, h in ((64, 64), (80, 56), (32, 32)):
        image = os.path.join(args.work_dir, "picture_%dx%d.png" % (w, h))
        # A smooth picture with edges, as photographs have (noise alone would favour no filter).
        yy, xx = np.mgrid[0:h, 0:w]
        picture = np.stack([(xx * 255 // w), (yy * 255 // h), ((xx // 5 + yy // 7) % 2) * 255], -1)
        picture = np.clip(picture + rng.normal(0, 20, picture.shape), 0, 255).astype(np.uint8)
        cv2.imwrite(image, cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
        prepared = reference_atman.prepare(ref, prompt, TARGET, image)
        with torch.no_grad():
            logp = torch.log_softmax(ref.logits(prepared.emb, torch.ones(prepared.emb.shape[0], dtype=torch.float64)),
                                     -1)
        ce_hf = float(-sum(logp[row, t] for row, t in zip(prepared.pred_rows, prepared.target_ids)))
        before = atman_ce(args.atman, opencv, image, prompt, args.work_dir)
        after = atman_ce(args.atman, model, image, prompt, args.work_dir)
        print("%2d x %2d   %.6f                %.2e                          %.2e"
              % (w, h, ce_hf, abs(before - ce_hf), abs(after - ce_hf)))


if __name__ == "__main__":
    main()
