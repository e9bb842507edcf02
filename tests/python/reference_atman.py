#!/usr/bin/python3
"""An independent plain-PyTorch implementation of AtMan (docs/method.md) for tiny-magma-architecture contract models, used to check the C++
sweep. Nothing is shared with the C++ code or with tiny_magma.py's forward:
the network is re-implemented here from its weights (read from the scripted
module's state dict), the attention manipulation is written from docs/method.md,
every perturbation is a full recompute, and everything runs in float64.

Both controls of docs/method.md: "multiplicative" (H - min H) * m and
"log-additive" H + log m.

Usage (library): explain(model_path, prompt, target, image_path=None,
                         suppression_factor=0.1, conceptual_threshold=0.6,
                         granularity="token", control="multiplicative") -> dict
                 prepare(ref, prompt, target, image_path, granularity) -> Prepared
Usage (command): reference_atman.py --model M [--image I] --prompt P --target T [...]"""
import argparse
import json
import math

import cv2
import numpy as np
import sentencepiece as spm
import torch
import torch.nn.functional as F

WORD_MARK = "\u2581"


# ---------------------------------------------------------------- model ---
class Reference:
    """A tiny-magma network (GPT-J blocks with adapters, rotary positions,
    convolutional image prefix) evaluated from its weights in float64."""

    def __init__(self, path):
        extra = {"atman/config.json": "", "atman/tokenizer.model": ""}
        module = torch.jit.load(path, map_location="cpu", _extra_files=extra)
        self.config = json.loads(extra["atman/config.json"])
        self.sp = spm.SentencePieceProcessor()
        self.sp.LoadFromSerializedProto(extra["atman/tokenizer.model"])
        state = {k: v.detach().to(torch.float64) for k, v in module.state_dict().items()}
        prefix = "inner." if any(k.startswith("inner.") for k in state) else ""
        self.w = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        self.layers = self.config["num_layers"]
        self.heads = self.config["num_heads"]
        self.width = self.config["hidden_size"]

    # layer-0 embeddings
    def embed_text(self, ids):
        return self.w["tokens.weight"][torch.tensor(ids, dtype=torch.long)]

    def embed_image(self, pixels):
        x = pixels[None]
        convs = sorted({int(k.split(".")[2]) for k in self.w if k.startswith("image.stem.")})
        strides = [1, 2, 1, 2, 1, 2, 1, 1]
        for n, idx in enumerate(convs):
            x = F.conv2d(x, self.w["image.stem.%d.weight" % idx], self.w["image.stem.%d.bias" % idx],
                         stride=strides[n], padding=1)
            if n + 1 < len(convs):
                x = F.gelu(x)
        x = x.flatten(2).transpose(1, 2)[0]
        x = self.layer_norm(x, "image.norm")
        return x @ self.w["image.proj.weight"].T + self.w["image.proj.bias"]

    def layer_norm(self, x, name):
        return F.layer_norm(x, (x.shape[-1],), self.w[name + ".weight"], self.w[name + ".bias"], 1e-5)

    def linear(self, x, name, bias=True):
        y = x @ self.w[name + ".weight"].T
        return y + self.w[name + ".bias"] if bias else y

    def adapter(self, x, name):
        return x + self.linear(torch.relu(self.linear(x, name + ".down")), name + ".up")

    def rotary(self, s):
        dh = self.width // self.heads
        inv = 1.0 / (10000 ** (torch.arange(0, dh, 2, dtype=torch.float64) / dh))
        angles = torch.arange(s, dtype=torch.float64)[:, None] * inv[None, :]
        angles = torch.cat([angles, angles], dim=-1)
        return angles.cos(), angles.sin()

    def logits(self, emb, modifier, attention=None, control="multiplicative"):
        """emb [S, D], modifier [S] -> logits [S, V], one full pass.
        `attention(q, k, v, modifier)` replaces atman_attention (a test with
        other row-minimum semantics passes its own); control "log-additive"
        uses log_additive_attention."""
        attention = attention or (log_additive_attention if control == "log-additive" else atman_attention)
        s, d = emb.shape
        h_n, dh = self.heads, d // self.heads
        cos, sin = self.rotary(s)

        def rot(t):  # t [H, S, dh]
            half = dh // 2
            return t * cos + torch.cat([-t[..., half:], t[..., :half]], dim=-1) * sin

        x = emb
        for i in range(self.layers):
            p = "blocks.%d." % i
            h = self.layer_norm(x, p + "ln")
            qkv = self.linear(h, p + "qkv", bias=False).view(s, 3, h_n, dh)
            q, k, v = (rot(qkv[:, j].transpose(0, 1)) if j < 2 else qkv[:, j].transpose(0, 1) for j in range(3))
            attended = attention(q, k, v, modifier)  # [H, S, dh]
            attended = attended.transpose(0, 1).reshape(s, d)
            mlp = self.linear(F.gelu(self.linear(h, p + "fc_in")), p + "fc_out")
            x = x + self.adapter(self.linear(attended, p + "out", bias=False), p + "attn_adapter") \
                + self.adapter(mlp, p + "mlp_adapter")
        return self.layer_norm(x, "final_ln") @ self.w["head.weight"].T


def atman_attention(q, k, v, modifier):
    """docs/method.md: H = QK^T/sqrt(dh); H' = (H - min_j H) * m[k];
    causal mask after; softmax. q, k, v [H, S, dh]; modifier [S]."""
    s = q.shape[1]
    scores = q @ k.transpose(1, 2) / math.sqrt(q.shape[-1])
    row_min = scores.min(dim=-1, keepdim=True).values  # over ALL keys, future ones included
    scores = (scores - row_min) * modifier[None, None, :]
    future = torch.triu(torch.ones(s, s, dtype=torch.bool), diagonal=1)
    scores = scores.masked_fill(future, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def log_additive_attention(q, k, v, modifier):
    """The hosted API's control: H' = H + log m[k] (log 0 = -inf: the key is
    removed), added after the 1/sqrt(dh) scaling and before the causal
    mask; softmax over the keys left; a row with no key left gives 0."""
    s = q.shape[1]
    scores = q @ k.transpose(1, 2) / math.sqrt(q.shape[-1]) + torch.log(modifier)[None, None, :]
    visible = ~torch.triu(torch.ones(s, s, dtype=torch.bool), diagonal=1) & (modifier > 0)[None, :]
    visible = visible[None].expand_as(scores)
    top = torch.where(visible, scores, torch.full_like(scores, -math.inf)).max(dim=-1, keepdim=True).values
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    weights = torch.where(visible, torch.exp(scores - top), torch.zeros_like(scores))
    total = weights.sum(dim=-1, keepdim=True)
    return (weights / torch.where(total > 0, total, torch.ones_like(total))) @ v


# --------------------------------------------------------------- inputs ---
def _pil(name):
    from PIL import Image
    return lambda: getattr(Image, name)


PIL_FILTERS = {"pil_bicubic": _pil("BICUBIC"), "pil_bilinear": _pil("BILINEAR"), "pil_lanczos": _pil("LANCZOS"),
               "pil_box": _pil("BOX"), "pil_hamming": _pil("HAMMING")}


def load_pixels(path, image_config):
    """Decode -> RGB -> resize (area when shrinking, bilinear otherwise; or
    Pillow's filter for image.resample "pil_*") -> [0, 1] -> normalise -> CHW float64."""
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError("cannot read " + path)
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    h, w = image_config["size"]
    resize = image_config.get("resize") or "stretch"

    resample = image_config.get("resample") or "opencv"

    def resized(img, rh, rw):
        if resample != "opencv":  # Hugging Face's processors: PIL.Image.resize (python3-pil)
            from PIL import Image
            pil = Image.fromarray(np.ascontiguousarray(img))
            if pil.size == (rw, rh):
                return img
            return np.asarray(pil.resize((rw, rh), PIL_FILTERS[resample]()))
        interp = cv2.INTER_AREA if (img.shape[0] > rh or img.shape[1] > rw) else cv2.INTER_LINEAR
        return cv2.resize(img, (rw, rh), interpolation=interp)

    h0, w0 = rgb.shape[:2]
    if resize == "center_crop" and resample != "opencv" and h == w:
        # CLIPImageProcessor: shortest edge to h, the long one int(h * long / short); crop at (side - h) // 2.
        short, long = min(h0, w0), max(h0, w0)
        rh, rw = (h, int(h * long / short)) if h0 <= w0 else (int(h * long / short), h)
        big = resized(rgb, rh, rw)
        top, left = (rh - h) // 2, (rw - w) // 2
        rgb = big[top:top + h, left:left + w]
    elif resize == "center_crop":  # the side needing the larger scale fits; cut the centre
        if h * w0 >= w * h0:
            rh, rw = h, max(w, w0 * h // h0)
        else:
            rh, rw = max(h, h0 * w // w0), w
        big = resized(rgb, rh, rw)
        top, left = (rh - h) // 2, (rw - w) // 2
        rgb = big[top:top + h, left:left + w]
    elif resize == "pad":  # LLaVA-1.5's expand2square with int(mean * 255), then resize
        side = max(h0, w0)
        square = np.empty((side, side, 3), np.uint8)
        square[:] = [int(m * 255) for m in image_config["mean"]]
        top, left = (side - h0) // 2, (side - w0) // 2
        square[top:top + h0, left:left + w0] = rgb
        rgb = resized(square, h, w)
    else:
        rgb = resized(rgb, h, w)
    x = rgb.astype(np.float64) / 255.0
    x = (x - np.array(image_config["mean"])) / np.array(image_config["std"])
    return torch.from_numpy(x).permute(2, 0, 1).contiguous()


def text_groups(pieces, special, granularity, offset):
    """Groups of positions offset.. of one text segment."""
    groups = []
    for n, (piece, is_special) in enumerate(zip(pieces, special)):
        pos = offset + n
        if granularity == "token" or is_special or not groups or groups[-1][1]:
            groups.append(([pos], is_special))
            continue
        if granularity == "word":
            new = piece.startswith(WORD_MARK)
        else:  # sentence: a new one after a piece ending in . ? !
            new = pieces[n - 1].endswith((".", "?", "!"))
        if new:
            groups.append(([pos], False))
        else:
            groups[-1][0].append(pos)
    return [g for g, _ in groups]


# -------------------------------------------------------------- the method -
class Prepared:
    """The explained sequence: embeddings [S, D] (float64), explained groups,
    target ids and their prediction rows."""

    def __init__(self, emb, groups, target_ids, pred_rows):
        self.emb, self.groups, self.target_ids, self.pred_rows = emb, groups, target_ids, pred_rows


def prepare(ref, prompt, target, image_path=None, granularity="token"):
    cfg, sp = ref.config, ref.sp
    with torch.no_grad():
        p = 0
        image_emb = None
        if image_path is not None:
            image_emb = ref.embed_image(load_pixels(image_path, cfg["image"]))
            p = image_emb.shape[0]
        # docs/contract.md: with "{image}" (models with an image), [bos] +
        # encode(before) + image + encode(after), each part on its own; without
        # it the image comes first, before BOS.
        bos = [cfg["bos_id"]] if cfg["add_bos"] else []
        if cfg.get("image") is not None and "{image}" in prompt:
            before, after = prompt.split("{image}", 1)
            before_ids = sp.encode(before) if before else []
            after_ids = sp.encode(after) if after else []
            prompt_ids = bos + before_ids + after_ids
            image_at = len(bos) + len(before_ids) if p else 0
        else:
            prompt_ids = bos + sp.encode(prompt)
            image_at = 0
        target_ids = sp.encode(target)
        text_ids = prompt_ids + target_ids[:-1]
        text_emb = ref.embed_text(text_ids)
        parts = [text_emb[:image_at]] + ([image_emb] if p else []) + [text_emb[image_at:]]
        emb = torch.cat(parts, dim=0)
        s = emb.shape[0]
        if s != p + len(prompt_ids) + len(target_ids) - 1:
            raise ValueError("sequence of %d positions, expected %d" % (s, p + len(prompt_ids) + len(target_ids) - 1))

        special = [sp.IsControl(i) or sp.IsUnknown(i) for i in text_ids]
        pieces = [sp.IdToPiece(i) for i in text_ids]
        n_prompt = len(prompt_ids)
        groups = text_groups(pieces[:image_at], special[:image_at], granularity, 0)
        groups += [[image_at + i] for i in range(p)]
        groups += text_groups(pieces[image_at:n_prompt], special[image_at:n_prompt], granularity, image_at + p)
        groups += text_groups(pieces[n_prompt:], special[n_prompt:], granularity, p + n_prompt)
    return Prepared(emb, groups, target_ids, [p + n_prompt - 1 + t for t in range(len(target_ids))])


def explain(model_path, prompt, target, image_path=None, suppression_factor=0.1,
            conceptual_threshold=0.6, granularity="token", control="multiplicative"):
    ref = model_path if isinstance(model_path, Reference) else Reference(model_path)
    sp = ref.sp
    prepared = prepare(ref, prompt, target, image_path, granularity)
    emb, groups, target_ids, pred_rows = prepared.emb, prepared.groups, prepared.target_ids, prepared.pred_rows
    s = emb.shape[0]
    with torch.no_grad():
        unit = emb / emb.norm(dim=1, keepdim=True).clamp_min(1e-12)
        cos = (unit @ unit.T).clamp(-1.0, 1.0)
        f = suppression_factor
        rows = []
        for members in groups:
            m = torch.ones(s, dtype=torch.float64)
            if conceptual_threshold is not None:
                for i in members:
                    for j in range(s):
                        c = float(cos[i, j])
                        if j != i and c >= conceptual_threshold:
                            factor = (1 - f) * (1 - c) + f if 0.0 <= c <= 1.0 else 1.0
                            if abs(factor - 1) > abs(m[j] - 1):
                                m[j] = factor
            m[members] = f
            rows.append(m)

        def cross_entropy(modifier):
            logits = ref.logits(emb, modifier) if control == "multiplicative" else \
                ref.logits(emb, modifier, control=control)
            logp = torch.log_softmax(logits[pred_rows], dim=-1)
            return -logp[torch.arange(len(target_ids)), torch.tensor(target_ids)]

        clean = cross_entropy(torch.ones(s, dtype=torch.float64))
        per_target = torch.stack([cross_entropy(m) - clean for m in rows])  # [N, T]
    return {
        "targets": [{"id": t, "piece": sp.IdToPiece(t), "ce": float(c)} for t, c in zip(target_ids, clean)],
        "positions": [{"index": g[0], "members": g, "relevance": float(r.sum()), "per_target": r.tolist()}
                      for g, r in zip(groups, per_target)],
        "sequence_length": s,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--image")
    parser.add_argument("--prompt", required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--suppression-factor", type=float, default=0.1)
    parser.add_argument("--conceptual-threshold", default="0.6")
    parser.add_argument("--granularity", default="token")
    parser.add_argument("--control", default="multiplicative", choices=["multiplicative", "log-additive"])
    args = parser.parse_args()
    kappa = None if args.conceptual_threshold == "off" else float(args.conceptual_threshold)
    out = explain(args.model, args.prompt, args.target, args.image, args.suppression_factor, kappa,
                  args.granularity, args.control)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
