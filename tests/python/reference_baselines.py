#!/usr/bin/python3
"""Independent PyTorch implementations of the baselines of `atman explain
--method` (csrc/atman/methods/baselines.h), to check the C++ ones: Input x Gradient,
Integrated Gradients (zero baseline, midpoint rule), attention rollout and
Chefer et al.'s gradient-weighted attention relevance.

Nothing is shared with the C++ code or with tiny_magma.py's forward: the
network is evaluated from its weights in float64 by reference_atman.Reference
(its helpers), with a forward written here that also returns every layer's
attention probabilities; gradients come from torch.autograd.

Usage (library): explain(model_path, prompt, target, method, image_path=None, ig_steps=32) -> dict
Usage (command): reference_baselines.py --model M --method ig [--image I] --prompt P --target T"""
import argparse
import json
import math

import torch
import torch.nn.functional as F

from tests.python import reference_atman


def forward_with_maps(ref, emb):
    """emb [S, D] (float64, may require grad) -> (logits [S, V], [per layer probs [H, S, S]]).
    Plain attention (all modifiers 1): softmax(QK^T/sqrt(dh)) with the causal mask."""
    s, d = emb.shape
    h_n, dh = ref.heads, d // ref.heads
    cos, sin = ref.rotary(s)

    def rot(t):
        half = dh // 2
        return t * cos + torch.cat([-t[..., half:], t[..., :half]], dim=-1) * sin

    future = torch.triu(torch.ones(s, s, dtype=torch.bool), diagonal=1)
    maps = []
    x = emb
    for i in range(ref.layers):
        p = "blocks.%d." % i
        h = ref.layer_norm(x, p + "ln")
        qkv = ref.linear(h, p + "qkv", bias=False).view(s, 3, h_n, dh)
        q = rot(qkv[:, 0].transpose(0, 1))
        k = rot(qkv[:, 1].transpose(0, 1))
        v = qkv[:, 2].transpose(0, 1)
        scores = (q @ k.transpose(1, 2) / math.sqrt(dh)).masked_fill(future, float("-inf"))
        probs = torch.softmax(scores, dim=-1)
        maps.append(probs)
        attended = (probs @ v).transpose(0, 1).reshape(s, d)
        mlp = ref.linear(F.gelu(ref.linear(h, p + "fc_in")), p + "fc_out")
        x = x + ref.adapter(ref.linear(attended, p + "out", bias=False), p + "attn_adapter") \
            + ref.adapter(mlp, p + "mlp_adapter")
    return ref.layer_norm(x, "final_ln") @ ref.w["head.weight"].T, maps


def inputs(ref, prompt, target, image_path):
    cfg, sp = ref.config, ref.sp
    parts, p = [], 0
    with torch.no_grad():
        if image_path is not None:
            image_emb = ref.embed_image(reference_atman.load_pixels(image_path, cfg["image"]))
            parts.append(image_emb)
            p = image_emb.shape[0]
        prompt_ids = ([cfg["bos_id"]] if cfg["add_bos"] else []) + sp.encode(prompt)
        target_ids = sp.encode(target)
        parts.append(ref.embed_text(prompt_ids + target_ids[:-1]))
    emb = torch.cat(parts, dim=0)
    rows = [p + len(prompt_ids) - 1 + t for t in range(len(target_ids))]
    return emb, rows, target_ids


def log_probs(ref, emb, rows, target_ids):
    logits, maps = forward_with_maps(ref, emb)
    lp = torch.log_softmax(logits[rows], dim=-1)
    return lp[torch.arange(len(target_ids)), torch.tensor(target_ids)], maps


def explain(model_path, prompt, target, method, image_path=None, ig_steps=32):
    """Returns {"per_target": [[R[i, t]] for i in 0..S-1], "log_probs": [...]}, float64."""
    ref = model_path if isinstance(model_path, reference_atman.Reference) else reference_atman.Reference(model_path)
    emb, rows, target_ids = inputs(ref, prompt, target, image_path)
    s, t_n = emb.shape[0], len(target_ids)
    values = torch.zeros(s, t_n, dtype=torch.float64)
    clean, _ = log_probs(ref, emb, rows, target_ids)
    if method == "ixg":
        x = emb.clone().requires_grad_(True)
        lp, _ = log_probs(ref, x, rows, target_ids)
        for t in range(t_n):
            (g,) = torch.autograd.grad(lp[t], x, retain_graph=True)
            values[:, t] = (emb * g).sum(-1)
    elif method == "ig":
        total = torch.zeros(t_n, s, emb.shape[1], dtype=torch.float64)
        for k in range(ig_steps):
            alpha = (k + 0.5) / ig_steps
            x = (alpha * emb).detach().requires_grad_(True)
            lp, _ = log_probs(ref, x, rows, target_ids)
            for t in range(t_n):
                (g,) = torch.autograd.grad(lp[t], x, retain_graph=True)
                total[t] += g
        for t in range(t_n):
            values[:, t] = (emb * total[t] / ig_steps).sum(-1)
    elif method == "rollout":
        with torch.no_grad():
            _, maps = forward_with_maps(ref, emb)
        eye = torch.eye(s, dtype=torch.float64)
        rollout = eye
        for a in maps:
            rollout = (0.5 * a.mean(0) + 0.5 * eye) @ rollout
        for t in range(t_n):
            values[:, t] = rollout[rows[t]]
    elif method == "chefer":
        x = emb.clone().requires_grad_(True)
        lp, maps = log_probs(ref, x, rows, target_ids)
        eye = torch.eye(s, dtype=torch.float64)
        for t in range(t_n):
            grads = torch.autograd.grad(lp[t], maps, retain_graph=True)
            r = eye.clone()
            for a, g in zip(maps, grads):
                r = r + (g * a).clamp(min=0).mean(0) @ r
            values[:, t] = (r - eye)[rows[t]]
    else:
        raise ValueError("unknown method " + method)
    return {"per_target": values.tolist(), "log_probs": clean.tolist(), "sequence_length": s}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--method", required=True, choices=["ixg", "ig", "rollout", "chefer"])
    parser.add_argument("--image")
    parser.add_argument("--prompt", required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--ig-steps", type=int, default=32)
    args = parser.parse_args()
    print(json.dumps(explain(args.model, args.prompt, args.target, args.method, args.image, args.ig_steps)))


if __name__ == "__main__":
    main()
