#!/usr/bin/python3
"""Imports a published checkpoint as an explainable model (docs/contract.md,
docs/optional_methods.md): a Hugging Face folder
(LlamaForCausalLM, MistralForCausalLM, LlavaForConditionalGeneration) or a
llama2.c .bin with its tokenizer.bin.

Usage: import_checkpoint.py HF_FOLDER --out build/model.pt
       import_checkpoint.py stories260K.bin --tokenizer tok512.bin --out build/stories260K.pt

Refused input (an unsupported architecture or setting, a malformed or
inconsistent file) prints one line on stderr and exits 1; usage errors exit
2; nothing is written unless the whole import succeeds."""
import argparse
import json
import os
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from importers.clip_llava import LlavaExplainableModel, LlavaSettings  # noqa: E402
from importers.errors import CheckpointError  # noqa: E402
from importers.hf_folder import HfFolder, check_sentencepiece  # noqa: E402
from importers.llama import ARCHITECTURES, LlamaSettings, TextExplainableModel  # noqa: E402
from importers.llama2c import Llama2cCheckpoint  # noqa: E402
from importers.llama2c_tokenizer import convert_llama2c_tokenizer  # noqa: E402
from importers.weight_loading import load_weights  # noqa: E402

SUPPORTED = sorted(ARCHITECTURES) + ["LlavaForConditionalGeneration"]
TEXT_TEMPLATE = "{question}"
LLAVA_TEMPLATE = "USER: {image}\n{question} ASSISTANT:"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Imports a Hugging Face folder (%s) or a llama2.c .bin as an explainable-model .pt "
                    "(TorchScript + atman/config.json + atman/tokenizer.model)." % ", ".join(SUPPORTED),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Sliding windows (Mistral) are exact: the window's mask applies after the AtMan modification.\n"
               "BOS/EOS ids come from config.json, else generation_config.json, else the tokenizer.")
    parser.add_argument("src", metavar="SRC", help="a Hugging Face model folder, or a llama2.c checkpoint .bin")
    parser.add_argument("--out", required=True, help="the model file to write (required)")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float32",
                        help="the model's parameter and compute dtype, whatever the checkpoint's "
                             "(default: float32)")
    parser.add_argument("--max-positions", type=int, metavar="N",
                        help="longest sequence (rotary table length) (default: the checkpoint's "
                             "max_position_embeddings; llama2.c: seq_len)")
    parser.add_argument("--prompt-template", metavar="T",
                        help="config prompt_template (default: \"%s\" for text models, \"%s\" for LLaVA)"
                             % (TEXT_TEMPLATE, LLAVA_TEMPLATE.replace("\n", "\\n")))
    parser.add_argument("--tokenizer", metavar="PATH",
                        help="sentencepiece model, or llama2.c tokenizer.bin (converted) (default: SRC/tokenizer.model "
                             "for a folder; required for a llama2.c .bin)")
    parser.add_argument("--image-resize", choices=["stretch", "center_crop", "pad"],
                        help="LLaVA's config image.resize (default: center_crop when preprocessor_config.json "
                             "centre-crops, as Hugging Face's CLIP processor does, else stretch; pad for "
                             "checkpoints trained with LLaVA's own padding)")
    parser.add_argument("--name", help="config name (default: SRC's base name)")
    args = parser.parse_args(argv)
    if args.max_positions is not None and args.max_positions <= 0:
        parser.error("--max-positions must be positive, got %d" % args.max_positions)
    if args.prompt_template is not None and args.prompt_template.count("{image}") > 1:
        parser.error("--prompt-template may hold {image} at most once")
    return args


def first_id(value):
    """An id, or the first of a list (generation configs list several EOS ids)."""
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, int) else None


def special_id(name, configs, tokenizer_id):
    """config.json, else generation_config.json, else the tokenizer's."""
    for config in configs:
        value = first_id(config.get(name))
        if value is not None:
            return value
    return tokenizer_id if tokenizer_id >= 0 else None


class Imported:
    """What an importer hands to the writer: the module (weights loaded),
    the language model's settings, the tokenizer's bytes and the config
    entries that depend on the source."""

    def __init__(self, model, text, tokenizer, image, template, id_configs, add_bos, max_positions, extra=None):
        self.model, self.text, self.tokenizer = model, text, tokenizer
        self.image, self.template = image, template
        self.id_configs, self.add_bos = id_configs, add_bos  # where BOS/EOS ids are looked for, in order
        self.max_positions = max_positions
        self.extra = extra or {}


def import_hf_folder(args):
    folder = HfFolder(args.src)
    architectures = folder.config.get("architectures") or []
    where = os.path.join(args.src, "config.json")
    if len(architectures) != 1 or architectures[0] not in SUPPORTED:
        raise CheckpointError("%s: architecture %s is not supported (supported: %s)"
                              % (where, "/".join(map(str, architectures)) or "(none)", ", ".join(SUPPORTED)))
    tokenizer = folder.tokenizer(args.tokenizer)
    dtype = DTYPES[args.dtype]
    generation = folder.optional_json("generation_config.json")
    if architectures[0] == "LlavaForConditionalGeneration":
        settings = LlavaSettings.from_hf(folder.config, where)
        text = settings.text
        image = settings.image_config(folder.optional_json("preprocessor_config.json"), args.image_resize,
                                      os.path.join(args.src, "preprocessor_config.json"))
        max_positions = args.max_positions or text.max_positions
        model = LlavaExplainableModel(settings, max_positions, dtype)
        load_weights(model, folder.weights(), ignorable=settings.ignorable)
        template = LLAVA_TEMPLATE
        id_configs = [folder.config, folder.config.get("text_config") or {}, generation]
        extra = {"image_token_index": settings.image_token_index}
    else:
        text = LlamaSettings.from_hf(folder.config, where, ARCHITECTURES[architectures[0]])
        image, template, extra = None, TEXT_TEMPLATE, {}
        max_positions = args.max_positions or text.max_positions
        model = TextExplainableModel(text, max_positions, dtype)
        load_weights(model, folder.weights(), prefix="language_model.", ignorable=text.ignorable)
        id_configs = [folder.config, generation]
    add_bos = folder.optional_json("tokenizer_config.json").get("add_bos_token", True)
    return Imported(model, text, tokenizer, image, template, id_configs, add_bos, max_positions, extra)


def import_llama2c(args):
    if not args.tokenizer:
        raise CheckpointError("%s: a llama2.c checkpoint needs --tokenizer (its tokenizer.bin)" % args.src)
    checkpoint = Llama2cCheckpoint(args.src)
    tokenizer = tokenizer_bytes(args.tokenizer)
    config = checkpoint.hf_config()
    text = LlamaSettings.from_hf(config, args.src)
    max_positions = args.max_positions or text.max_positions
    model = TextExplainableModel(text, max_positions, DTYPES[args.dtype])
    load_weights(model, checkpoint, prefix="language_model.")
    return Imported(model, text, tokenizer, None, TEXT_TEMPLATE, [config], True, max_positions)


def tokenizer_bytes(path):
    """A sentencepiece model as it is, or a llama2.c tokenizer.bin converted."""
    if not os.path.isfile(path):
        raise CheckpointError("%s: no such tokenizer file" % path)
    with open(path, "rb") as f:
        data = f.read()
    try:
        check_sentencepiece(data, path)
        return data
    except CheckpointError:
        pass
    try:
        return convert_llama2c_tokenizer(path)
    except CheckpointError as e:
        raise CheckpointError("%s: neither a sentencepiece model nor a llama2.c tokenizer.bin (%s)"
                              % (path, str(e).split(": ", 1)[-1]))


def contract_config(args, imported):
    """atman/config.json (docs/contract.md, docs/optional_methods.md)."""
    text = imported.text
    processor = check_sentencepiece(imported.tokenizer, "tokenizer")
    if processor.get_piece_size() > text.vocab_size:
        raise CheckpointError("%s: the tokenizer has %d pieces, more than the model's vocab_size %d"
                              % (args.src, processor.get_piece_size(), text.vocab_size))
    bos = special_id("bos_token_id", imported.id_configs, processor.bos_id())
    eos = special_id("eos_token_id", imported.id_configs, processor.eos_id())
    if imported.add_bos and bos is None:
        raise CheckpointError("%s: no BOS id in config.json, generation_config.json or the tokenizer" % args.src)
    config = {
        "contract": 1,
        "name": args.name or os.path.splitext(os.path.basename(os.path.normpath(args.src)))[0],
        "vocab_size": text.vocab_size, "hidden_size": text.hidden_size, "num_layers": text.num_layers,
        "num_heads": text.num_heads, "num_kv_heads": text.num_kv_heads,
        "max_positions": imported.max_positions,
        "add_bos": bool(imported.add_bos), "bos_id": bos if bos is not None else -1,
        "image": imported.image,
        "prompt_template": args.prompt_template if args.prompt_template is not None else imported.template,
    }
    if eos is not None:
        config["eos_id"] = eos
    if getattr(text, "head_dim", None):
        config["head_dim"] = text.head_dim  # the caches' last dimension (docs/contract.md)
    if text.sliding_window:
        config["sliding_window"] = text.sliding_window
    config.update(imported.extra)
    return config


def write_model(module, config, tokenizer, out):
    """Scripts and saves to a temporary file beside `out`, renamed at the end."""
    scripted = torch.jit.script(module.eval())
    directory = os.path.dirname(os.path.abspath(out))
    os.makedirs(directory, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=".import-", suffix=".pt", dir=directory)
    os.close(handle)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would hide the model from other users
    try:
        torch.jit.save(scripted, tmp, _extra_files={"atman/config.json": json.dumps(config, indent=2),
                                                    "atman/tokenizer.model": tokenizer})
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    try:
        if os.path.isdir(args.src):
            imported = import_hf_folder(args)
        elif os.path.isfile(args.src):
            imported = import_llama2c(args)
        else:
            raise CheckpointError("%s: no such folder or file" % args.src)
        config = contract_config(args, imported)
        write_model(imported.model, config, imported.tokenizer, args.out)
    except CheckpointError as e:
        print("import_checkpoint: %s" % str(e).replace("\n", " "), file=sys.stderr)
        return 1
    print("wrote %s (%.1f MB, %s)" % (args.out, os.path.getsize(args.out) / 1e6, config["name"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
