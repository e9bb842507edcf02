#!/usr/bin/python3
"""ctest fixture: writes small random checkpoints in the Hugging Face layouts
(LLaMA with grouped-query attention, Mistral with a sliding window, LLaVA with
a CLIP tower and projector) with tests/python/make_hf_checkpoints.py, and
imports each with torchscript_models/import_checkpoint.py, as a user would
(docs/importing.md). With --stories it also imports llama2.c's stories260K
(never into the repository: OUT_DIR is a build folder).

Writes into OUT_DIR: llama_gqa.pt, mistral.pt, llava.pt (the models), and
today's families with their tokenizer.json and chat template
(make_hf_checkpoints.bpe_folder_cases): llama3.pt (llama3 rope scaling),
qwen2.pt (q/k/v biases, tied, a window from layer 1) and smol.pt (GPT-2's
vocab.json + merges.txt); llava_qwen.pt (llava-interleave-qwen's layout: a
SigLIP tower, a Qwen2 text model with its tokenizer.json, a SiglipImageProcessor
and the processor's chat template, which places {image}); NAME.ref.pt (the checkpoint's weights in float64
and its Hugging Face config, for the independent float64 reference of
tests/python/reference_llama.py); stories260K.pt with --stories.

Usage: make_imported_models.py --out-dir build/imported [--stories DIR]
Exit 1 with one line when an import fails or DIR lacks stories260K.bin or tok512.bin."""
import argparse
import os
import shutil
import subprocess
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
IMPORTER = os.path.join(ROOT, "torchscript_models", "import_checkpoint.py")
from tests.python import make_hf_checkpoints as mk  # noqa: E402


def llama_config(**over):
    """make_hf_checkpoints' config with grouped-query attention and room for 160 positions."""
    return mk.llama_config(**dict(dict(num_key_value_heads=2, max_position_embeddings=160), **over))


def llava_config():
    vision = dict(model_type="clip_vision_model", hidden_size=24, intermediate_size=40, num_hidden_layers=3,
                  num_attention_heads=4, image_size=16, patch_size=4, layer_norm_eps=1e-5, hidden_act="quick_gelu")
    return dict(architectures=["LlavaForConditionalGeneration"], model_type="llava", image_token_index=255,
                vision_feature_layer=-2, vision_feature_select_strategy="default", projector_hidden_act="gelu",
                text_config=dict(llama_config(), architectures=None), vision_config=vision)


def llava_qwen_config():
    """llava-interleave-qwen's layout, small: a SigLIP tower (feature layer -1
    of 3, every patch), a Qwen2 text model (biases, tied, a window from layer 1)."""
    vision = dict(model_type="siglip_vision_model", hidden_size=24, intermediate_size=40, num_hidden_layers=3,
                  num_attention_heads=4, image_size=16, patch_size=4, layer_norm_eps=1e-6,
                  hidden_act="gelu_pytorch_tanh", vision_use_head=False)
    text, _ = mk.bpe_folder_cases()["qwen2"]
    return dict(architectures=["LlavaForConditionalGeneration"], model_type="llava", image_token_index=511,
                vision_feature_layer=-1, vision_feature_select_strategy="full", projector_hidden_act="gelu",
                text_config=dict(text, architectures=["Qwen2ForCausalLM"]), vision_config=vision)


# A SiglipImageProcessor's settings: straight to 16 x 16, bicubic; and the
# processor's chat template in llava-interleave's shape (images first, then
# the text, in ChatML turns).
SIGLIP_PREPROCESSOR = {"image_processor_type": "SiglipImageProcessor", "do_resize": True, "resample": 3,
                       "size": {"height": 16, "width": 16}, "do_rescale": True, "rescale_factor": 1 / 255,
                       "do_normalize": True, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}
INTERLEAVE_TEMPLATE = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' }}"
                       "{% for part in message['content'] | selectattr('type', 'equalto', 'image') %}"
                       "{{ '<image>\n' }}{% endfor %}"
                       "{% for part in message['content'] | selectattr('type', 'equalto', 'text') %}"
                       "{{ part['text'] }}{% endfor %}{{ '<|im_end|>\n' }}{% endfor %}"
                       "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")

# The CLIP processor's settings: shortest edge 16, centre crop 16 x 16 (import: image.resize center_crop).
PREPROCESSOR = {"crop_size": {"height": 16, "width": 16}, "do_center_crop": True, "size": {"shortest_edge": 16},
                "image_mean": [0.5, 0.4, 0.3], "image_std": [0.2, 0.25, 0.3]}


def run_import(args):
    proc = subprocess.run(["/usr/bin/python3", IMPORTER] + args, capture_output=True, text=True)
    if proc.returncode:
        sys.exit("make_imported_models: import_checkpoint.py %s failed: %s" % (" ".join(args), proc.stderr.strip()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--stories", help="folder holding stories260K.bin and tok512.bin")
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = os.path.abspath(args.out_dir)
    src = os.path.join(out, "src")
    os.makedirs(src, exist_ok=True)
    if args.stories is not None:
        model_bin = os.path.join(args.stories, "stories260K.bin")
        tok_bin = os.path.join(args.stories, "tok512.bin")
        for path in (model_bin, tok_bin):
            if not os.path.isfile(path):
                sys.exit("make_imported_models: %s is missing (stories260K is read from ../shared/models/stories260K "
                         "beside the repository)" % path)
        run_import([model_bin, "--tokenizer", tok_bin, "--out", os.path.join(out, "stories260K.pt")])
        print("imported stories260K into " + out)
        return
    cases = {
        "llama_gqa": (llama_config(), dict(shards=2)),
        # Its own head_dim (12, not hidden_size / heads = 8), as Mistral-style configs give one.
        "mistral": (llama_config(architectures=["MistralForCausalLM"], model_type="mistral", sliding_window=6,
                                 tie_word_embeddings=True, head_dim=12), dict(layout="bin")),
    }
    for name, (config, kw) in cases.items():
        weights = mk.write_llama_folder(os.path.join(src, name), config, seed=21, **kw)
        torch.save({"weights": weights, "config": config}, os.path.join(out, name + ".ref.pt"))
        run_import([os.path.join(src, name), "--out", os.path.join(out, name + ".pt")])
    bpe = mk.bpe_folder_cases()
    for name in ("llama3", "qwen2", "smol"):
        config, kind = bpe[name]
        weights = mk.write_bpe_folder(os.path.join(src, name), config, kind, seed=23)
        torch.save({"weights": weights, "config": config}, os.path.join(out, name + ".ref.pt"))
        run_import([os.path.join(src, name), "--out", os.path.join(out, name + ".pt")])
    config = llava_config()
    weights = mk.write_llava_folder(os.path.join(src, "llava"), config, seed=22,
                                    extra_json={"preprocessor_config.json": PREPROCESSOR})
    torch.save({"weights": weights, "config": config}, os.path.join(out, "llava.ref.pt"))
    run_import([os.path.join(src, "llava"), "--out", os.path.join(out, "llava.pt")])
    config = llava_qwen_config()
    weights = mk.write_llava_folder(os.path.join(src, "llava_qwen"), config, seed=24, tokenizer_kind="qwen2",
                                    extra_json={"preprocessor_config.json": SIGLIP_PREPROCESSOR,
                                                "chat_template.json": {"chat_template": INTERLEAVE_TEMPLATE}})
    torch.save({"weights": weights, "config": config}, os.path.join(out, "llava_qwen.ref.pt"))
    run_import([os.path.join(src, "llava_qwen"), "--out", os.path.join(out, "llava_qwen.pt")])
    shutil.rmtree(src)  # the imports are what the tests use
    print("imported llama_gqa.pt, mistral.pt, llama3.pt, qwen2.pt, smol.pt, llava.pt, llava_qwen.pt into " + out)


if __name__ == "__main__":
    main()
