#!/usr/bin/python3
"""Imports a published checkpoint as an explainable model (docs/contract.md,
docs/optional_methods.md): a Hugging Face folder (LlamaForCausalLM with
Llama-3's rope scaling, MistralForCausalLM, Qwen2ForCausalLM,
GPT2LMHeadModel, GPTJForCausalLM, GPTNeoXForCausalLM,
LlavaForConditionalGeneration) with its sentencepiece tokenizer.model,
tokenizer.json or GPT-2 vocab.json + merges.txt and its chat template, or a
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

if not __package__:
    # Run by path (`python3 torchscript_models/import_checkpoint.py`, as documented): import from the
    # repository root, as `python3 -m torchscript_models.import_checkpoint` does.
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from torchscript_models.importers.clip_llava import LlavaExplainableModel, LlavaSettings  # noqa: E402
from torchscript_models.importers.errors import CheckpointError  # noqa: E402
from torchscript_models.importers.chat_template import find_chat_template, render_chat_template  # noqa: E402
from torchscript_models.importers.hf_folder import HfFolder  # noqa: E402
from torchscript_models.importers.gpt_family import GPT_FAMILY  # noqa: E402
from torchscript_models.importers.hf_tokenizer import (  # noqa: E402
    SentencepieceTokenizer, check_sentencepiece, find_tokenizer, special_tokens)
from torchscript_models.importers.llama import ARCHITECTURES, LlamaSettings, TextExplainableModel  # noqa: E402
from torchscript_models.importers.llama2c import Llama2cCheckpoint  # noqa: E402
from torchscript_models.importers.llama2c_tokenizer import convert_llama2c_tokenizer  # noqa: E402
from torchscript_models.importers.weight_loading import load_weights  # noqa: E402

SUPPORTED = sorted(ARCHITECTURES) + sorted(GPT_FAMILY) + ["LlavaForConditionalGeneration"]
TEXT_TEMPLATE = "{question}"
LLAVA_TEMPLATE = "USER: {image}\n{question} ASSISTANT:"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
# --help's example: what a Llama-3-Instruct folder's chat template renders to (the date is the import's).
EXAMPLE = ("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\\n\\nCutting Knowledge Date: "
           "December 2023\\nToday Date: 26 Jul 2024\\n\\n<|eot_id|><|start_header_id|>user<|end_header_id|>"
           "\\n\\n{question}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\\n\\n")
EPILOG = """Chat templates: a text model's chat template (chat_template.jinja, chat_template.json or
tokenizer_config.json's chat_template) is rendered with Jinja2 as transformers renders it, for one
user message "{question}" and the generation prompt, into the config's prompt_template. A
Llama-3.1-Instruct folder, for example, gives (printed in the import log):
  %s
BOS: exactly one when the model uses one. A template that starts with the BOS text holds it (the
tokenizer turns special-token text into its id) and add_bos is false; otherwise add_bos follows
tokenizer_config.json's add_bos_token, else the tokenizer's post-processor (Llama-3: yes; Qwen2,
SmolLM2, GPT-2's ByteLevel: no), and a sentencepiece model adds one unless add_bos_token is false.
Sliding windows (Mistral; Qwen2 with use_sliding_window) are exact: the window's mask applies after
the AtMan modification.
BOS/EOS ids come from config.json, else generation_config.json, else the tokenizer; with a
tokenizer.json, BOS is the post-processor's token, else tokenizer_config's bos_token; with a chat
template, EOS is the tokenizer_config's eos_token (the end of a turn).""" % EXAMPLE


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Imports a Hugging Face folder (%s) or a llama2.c .bin as an explainable-model .pt "
                    "(TorchScript + atman/config.json + atman/tokenizer.model or atman/tokenizer.json)."
                    % ", ".join(SUPPORTED),
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG)
    parser.add_argument("src", metavar="SRC", help="a Hugging Face model folder, or a llama2.c checkpoint .bin")
    parser.add_argument("--out", required=True, help="the model file to write (required)")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float32",
                        help="the model's parameter and compute dtype, whatever the checkpoint's "
                             "(default: float32)")
    parser.add_argument("--max-positions", type=int, metavar="N",
                        help="longest sequence (rotary table length) (default: the checkpoint's "
                             "max_position_embeddings; GPT-2's n_positions at most; Phi-3 with longrope: "
                             "original_max_position_embeddings, a longer N switches to whole-sequence passes; "
                             "llama2.c: seq_len)")
    parser.add_argument("--prompt-template", metavar="T",
                        help="config prompt_template, used as given (default: \"%s\", or the rendered chat "
                             "template where a text model's folder has one; \"%s\" for LLaVA)"
                             % (TEXT_TEMPLATE, LLAVA_TEMPLATE.replace("\n", "\\n")))
    parser.add_argument("--chat-template", metavar="none|FILE",
                        help="none: the plain \"{question}\" template even where the folder has a chat template; "
                             "FILE: render this Jinja template instead of the folder's (default: the folder's)")
    parser.add_argument("--system", metavar="TEXT",
                        help="a system message before the user's in the rendered chat template (default: none; "
                             "the template's own default, if any)")
    parser.add_argument("--tokenizer", metavar="PATH",
                        help="a tokenizer.json, a sentencepiece model, or llama2.c's tokenizer.bin (converted) "
                             "(default for a folder: tokenizer.model, else tokenizer.json, else vocab.json + "
                             "merges.txt; required for a llama2.c .bin)")
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
    if args.chat_template not in (None, "none") and not os.path.isfile(args.chat_template):
        parser.error("--chat-template must be none or a template file, got %r (no such file)" % args.chat_template)
    if args.system is not None and args.chat_template == "none":
        parser.error("--system needs a chat template (not --chat-template none)")
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
    return tokenizer_id if tokenizer_id is not None and tokenizer_id >= 0 else None


class Imported:
    """What an importer hands to the writer: the module (weights loaded),
    the language model's settings, the tokenizer (hf_tokenizer.py), the
    prompt template with its BOS decision (Prompt) and the config entries
    that depend on the source."""

    def __init__(self, model, text, tokenizer, image, prompt, max_positions, extra=None):
        self.model, self.text, self.tokenizer = model, text, tokenizer
        self.image, self.prompt = image, prompt
        self.max_positions = max_positions
        self.extra = extra or {}


class Prompt:
    """prompt_template, add_bos, bos_id and eos_id, decided together
    (docs/importing.md#bos-and-chat-templates)."""

    def __init__(self, template, add_bos, bos_id, eos_id, source):
        self.template, self.add_bos, self.bos_id, self.eos_id = template, add_bos, bos_id, eos_id
        self.source = source  # where the template came from, for the log


def chat_template(args, folder):
    """(template text, where) of --chat-template FILE or the folder's, or (None, None)."""
    if args.chat_template == "none" or args.prompt_template is not None:
        return None, None
    if args.chat_template:
        with open(args.chat_template, encoding="utf-8") as f:
            return f.read(), args.chat_template
    return find_chat_template(folder.path, folder.optional_json("tokenizer_config.json"))


def decide_prompt(args, folder, tokenizer, id_configs, default_template, image_placeholder=None):
    """The rendered chat template (or the default one) and exactly one BOS
    when the model uses one. An image model's template is rendered with an
    image part whose placeholder text becomes {image}."""
    tokenizer_config = folder.optional_json("tokenizer_config.json")
    tokens = special_tokens(tokenizer_config, folder.optional_json("special_tokens_map.json"))
    text, source = chat_template(args, folder) if default_template == TEXT_TEMPLATE or image_placeholder \
        else (None, None)
    template = render_chat_template(text, source, tokens, args.system, image_placeholder) if text is not None \
        else None
    if args.system is not None and template is None:
        raise CheckpointError("%s: --system needs a chat template, and the folder has none (chat_template.jinja, "
                              "chat_template.json or tokenizer_config.json's chat_template)" % folder.path)
    bos = special_id("bos_token_id", id_configs, tokenizer.default_bos())
    eos = special_id("eos_token_id", id_configs, tokenizer.default_eos())
    bos_text = tokens.get("bos_token")
    explicit = tokenizer_config.get("add_bos_token")
    if tokenizer.kind == "sentencepiece":
        add_bos = explicit if isinstance(explicit, bool) else True
    else:
        added = tokenizer.post_processor_bos()  # (id, text) or None
        add_bos = explicit if isinstance(explicit, bool) else added is not None
        if added is not None:
            bos, bos_text = added
        elif bos_text is not None and tokenizer.token_id(bos_text) is not None:
            bos = tokenizer.token_id(bos_text)  # the token a template's BOS text becomes
    if bos is None and bos_text is not None:
        bos = tokenizer.token_id(bos_text)
    if bos_text is None and bos is not None and tokenizer.kind == "sentencepiece":
        bos_text = tokenizer.processor.id_to_piece(bos)
    if template is not None:
        if tokenizer.kind == "sentencepiece":
            if bos_text and template.startswith(bos_text):
                # sentencepiece never reads "<s>" as BOS: the template's BOS becomes add_bos.
                template, add_bos = template[len(bos_text):], True
            for control in tokenizer.control_texts() + added_texts_beyond(folder, tokenizer):
                if control in template:
                    tokenizer_json = os.path.join(folder.path, "tokenizer.json")
                    raise CheckpointError("%s: the chat template holds %s, which the sentencepiece tokenizer "
                                          "cannot produce from text; import with %s--chat-template none"
                                          % (source, json_text(control), "--tokenizer %s (special tokens matched as "
                                             "transformers does) or " % tokenizer_json
                                             if os.path.isfile(tokenizer_json) else ""))
        eos_text_id = tokenizer.token_id(tokens["eos_token"]) if tokens.get("eos_token") else None
        if eos_text_id is not None:
            eos = eos_text_id  # a chat answer ends with the end of its turn (e.g. <|eot_id|>, <|im_end|>)
    if args.prompt_template is not None:
        template, source = args.prompt_template, None
    if template is None:
        template, source = default_template, None
    if tokenizer.kind == "json" and bos_text and template.startswith(bos_text):
        add_bos = False  # the template's own BOS text is tokenized as the BOS id: one BOS, not two
    if add_bos and bos is None:
        raise CheckpointError("%s: no BOS id in config.json, generation_config.json or the tokenizer" % folder.path)
    return Prompt(template, add_bos, bos, eos, source)


def added_texts_beyond(folder, tokenizer):
    """Added tokens (added_tokens.json, tokenizer_config.json's
    added_tokens_decoder) that the sentencepiece model lacks, e.g. Phi-3's
    <|user|>: sentencepiece would split their text into pieces."""
    texts = list(folder.optional_json("added_tokens.json"))
    decoder = folder.optional_json("tokenizer_config.json").get("added_tokens_decoder") or {}
    texts += [t.get("content") for t in decoder.values() if isinstance(t, dict)]
    return [t for t in texts if isinstance(t, str) and t and tokenizer.token_id(t) is None]


def json_text(value):
    return json.dumps(value, ensure_ascii=False)


def import_hf_folder(args):
    folder = HfFolder(args.src)
    architectures = folder.config.get("architectures") or []
    where = os.path.join(args.src, "config.json")
    if len(architectures) != 1 or architectures[0] not in SUPPORTED:
        raise CheckpointError("%s: architecture %s is not supported (supported: %s)"
                              % (where, "/".join(map(str, architectures)) or "(none)", ", ".join(SUPPORTED)))
    tokenizer_path = args.tokenizer
    tokenizer_json = os.path.join(args.src, "tokenizer.json")
    if tokenizer_path is None and architectures[0] in GPT_FAMILY and \
            GPT_FAMILY[architectures[0]].prefers_tokenizer_json and os.path.isfile(tokenizer_json):
        tokenizer_path = tokenizer_json  # Phi-3: its tokens from 32000 on are added tokens only tokenizer.json holds
    tokenizer = find_tokenizer(args.src, folder.optional_json("tokenizer_config.json"),
                               folder.optional_json("special_tokens_map.json"), tokenizer_path)
    dtype = DTYPES[args.dtype]
    generation = folder.optional_json("generation_config.json")
    llava = architectures[0] == "LlavaForConditionalGeneration"
    if llava:
        settings = LlavaSettings.from_hf(folder.config, where)
        text = settings.text
        image = settings.image_config(folder.optional_json("preprocessor_config.json"), args.image_resize,
                                      os.path.join(args.src, "preprocessor_config.json"))
        template, extra = LLAVA_TEMPLATE, {"image_token_index": settings.image_token_index}
        id_configs = [folder.config, folder.config.get("text_config") or {}, generation]
        if text.sliding_window and len(text.windowed_layers()) < text.num_layers:
            extra["sliding_window_layers"] = text.windowed_layers()  # Qwen2: the layers with the window
        # The processor's image token text (processor_config.json; "<image>" by default).
        placeholder = folder.optional_json("processor_config.json").get("image_token") or "<image>"
    elif architectures[0] in GPT_FAMILY:
        text = GPT_FAMILY[architectures[0]].settings(folder.config, where)
        image, template, extra = None, TEXT_TEMPLATE, {}
        if text.sliding_window and len(text.windowed_layers()) < text.num_layers:
            extra["sliding_window_layers"] = text.windowed_layers()  # Gemma-2: alternate layers
        id_configs = [folder.config, generation]
    else:
        text = LlamaSettings.from_hf(folder.config, where, ARCHITECTURES[architectures[0]])
        image, template, extra = None, TEXT_TEMPLATE, {}
        if text.sliding_window and len(text.windowed_layers()) < text.num_layers:
            extra["sliding_window_layers"] = text.windowed_layers()  # Qwen2: the layers with the window
        id_configs = [folder.config, generation]
    # The tokenizer and the template are checked before any weight is read.
    tokenizer.check_fits(text.vocab_size, args.src)
    prompt = decide_prompt(args, folder, tokenizer, id_configs, template, placeholder if llava else None)
    # Phi-3's longrope: by default the original context, where its short factors hold.
    default_positions = getattr(text, "default_max_positions", lambda: text.max_positions)()
    max_positions = args.max_positions or default_positions
    if llava:
        model = LlavaExplainableModel(settings, max_positions, dtype)
        load_weights(model, folder.weights(), ignorable=settings.ignorable)
    elif architectures[0] in GPT_FAMILY:
        model = GPT_FAMILY[architectures[0]].build(text, max_positions, dtype, folder.weights(), where)
    else:
        model = TextExplainableModel(text, max_positions, dtype)
        load_weights(model, folder.weights(), prefix="language_model.", ignorable=text.ignorable)
    return Imported(model, text, tokenizer, image, prompt, max_positions, extra)


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
    tokenizer = SentencepieceTokenizer(tokenizer, args.tokenizer)
    tokenizer.check_fits(text.vocab_size, args.src)
    bos = special_id("bos_token_id", [config], tokenizer.default_bos())
    if bos is None:
        raise CheckpointError("%s: no BOS id in the checkpoint or the tokenizer" % args.src)
    prompt = Prompt(args.prompt_template or TEXT_TEMPLATE, True, bos,
                    special_id("eos_token_id", [config], tokenizer.default_eos()), None)
    return Imported(model, text, tokenizer, None, prompt, max_positions)


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
                              % (path, str(e).split(": ", 1)[-1])) from e


def contract_config(args, imported):
    """atman/config.json (docs/contract.md, docs/optional_methods.md)."""
    text, prompt = imported.text, imported.prompt
    bos, eos = prompt.bos_id, prompt.eos_id
    for name, value in (("BOS", bos), ("EOS", eos)):
        if value is not None and not 0 <= value < text.vocab_size:
            raise CheckpointError("%s: the %s id %d is outside the model's vocab_size %d"
                                  % (args.src, name, value, text.vocab_size))
    config = {
        "contract": 1,
        "name": args.name or os.path.splitext(os.path.basename(os.path.normpath(args.src)))[0],
        "vocab_size": text.vocab_size, "hidden_size": text.hidden_size, "num_layers": text.num_layers,
        "num_heads": text.num_heads, "num_kv_heads": text.num_kv_heads,
        "max_positions": imported.max_positions,
        "add_bos": bool(prompt.add_bos), "bos_id": bos if bos is not None else 0,
        "image": imported.image,
        "prompt_template": prompt.template,
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
    """tokenizer: hf_tokenizer's SentencepieceTokenizer or JsonTokenizer; its
    bytes go in as atman/tokenizer.model or atman/tokenizer.json."""
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
                                                    tokenizer.extra_file: tokenizer.data})
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
    print("tokenizer: %s; add_bos %s, bos_id %d, eos_id %s" % (
        imported.tokenizer.describe(), str(config["add_bos"]).lower(), config["bos_id"], config.get("eos_id")))
    source = imported.prompt.source
    print("prompt_template%s: %s" % (" (rendered from %s)" % source if source else "",
                                     json.dumps(config["prompt_template"], ensure_ascii=False)))
    print("wrote %s (%.1f MB, %s)" % (args.out, os.path.getsize(args.out) / 1e6, config["name"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
