"""The text architectures beside the LLaMA family (llama.py): GPT-2,
GPT-J, GPT-NeoX, Gemma-2 and Phi-3,
one entry per Hugging Face class, naming its settings reader, its module and
the base model's key prefix (a folder saved from the base model lacks it).

Usage: arch = GPT_FAMILY["GPT2LMHeadModel"]
       settings = arch.settings(config, "config.json")
       model = arch.build(settings, max_positions, dtype, folder.weights(), where)"""
from .gemma2 import Gemma2ExplainableModel, Gemma2Settings
from .gpt2 import Gpt2ExplainableModel, Gpt2Settings
from .gpt_neox import NeoxExplainableModel, NeoxSettings
from .gptj import GptjExplainableModel, GptjSettings
from .phi3 import Phi3Settings, phi3_model
from .prefixed_source import with_base_prefix
from .weight_loading import load_weights


class Architecture:
    def __init__(self, read_settings, model_class, base_prefix, prefers_tokenizer_json=False):
        self.read_settings, self.model_class, self.base_prefix = read_settings, model_class, base_prefix
        # Read the folder's tokenizer.json before its tokenizer.model (Phi-3: the chat
        # template's tokens are added tokens, which only tokenizer.json holds).
        self.prefers_tokenizer_json = prefers_tokenizer_json

    def settings(self, config, where):
        return self.read_settings(config, where)

    def build(self, settings, max_positions, dtype, source, where):
        """The module with the checkpoint's weights loaded."""
        settings.check_max_positions(max_positions, where)
        model = self.model_class(settings, max_positions, dtype)
        load_weights(model, with_base_prefix(source, self.base_prefix), prefix="language_model.",
                     ignorable=settings.ignorable)
        return model


GPT_FAMILY = {
    "GPT2LMHeadModel": Architecture(Gpt2Settings.from_hf, Gpt2ExplainableModel, "transformer."),
    "GPTJForCausalLM": Architecture(GptjSettings.from_hf, GptjExplainableModel, "transformer."),
    "GPTNeoXForCausalLM": Architecture(NeoxSettings.from_hf, NeoxExplainableModel, "gpt_neox."),
    "Gemma2ForCausalLM": Architecture(Gemma2Settings.from_hf, Gemma2ExplainableModel, "model."),
    "Phi3ForCausalLM": Architecture(Phi3Settings.from_hf, phi3_model, "model.", prefers_tokenizer_json=True),
}
