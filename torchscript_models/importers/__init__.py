"""Importers from published checkpoint formats into the explainable-model
contract (docs/contract.md). One file per job:

  errors.py             CheckpointError: the one exception a refused input raises
  safetensors_reader.py the safetensors format, every header field checked
  hf_folder.py          a Hugging Face folder: configs, weights (single or sharded,
                        safetensors or pytorch_model.bin)
  hf_tokenizer.py       the folder's tokenizer: sentencepiece tokenizer.model, tokenizer.json
                        (checked), or GPT-2's vocab.json + merges.txt as a tokenizer.json
  chat_template.py      the folder's chat template rendered into the prompt template
  llama2c.py            a llama2.c checkpoint as Hugging Face LLaMA weights
  llama2c_tokenizer.py  llama2.c's tokenizer.bin as a sentencepiece BPE model
  weight_loading.py     copies a weight source into a module, one tensor at a time
  rope.py               rotary frequencies: plain, rope_scaling linear and llama3
  rotary_decoder.py     the passes of every rotary decoder (run, run_lrp, rotary tables, empty cache)
  llama.py              LLaMA / Mistral / Qwen2 language models
  clip_llava.py         LLaVA: CLIP vision tower + projector + LLaMA/Mistral
  gpt_family.py         the GPT-style architectures by Hugging Face class:
    gpt2.py             GPT-2 (learned positions, Conv1D, fused c_attn)
    gptj.py             GPT-J (interleaved partial rotary, parallel block)
    gpt_neox.py         GPT-NeoX / Pythia (fused per-head qkv, partial rotary)
    gemma2.py           Gemma-2 (soft-capping, sandwich norms, alternating windows)
    phi3.py             Phi-3 (fused qkv and gate_up, longrope)
    gpt_blocks.py       their LayerNorm, Conv1D, activations, text-only contract shell
    partial_rotary.py   rotary positions on part of each head, half-split or interleaved
    prefixed_source.py  base-model checkpoints (keys without "transformer.")

The command is torchscript_models/import_checkpoint.py."""
