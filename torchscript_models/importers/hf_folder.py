"""A Hugging Face model folder: config.json (+ generation_config.json,
tokenizer_config.json, special_tokens_map.json, preprocessor_config.json
when present) and the weights in one of the four published layouts (the
tokenizer: hf_tokenizer.py; the chat template: chat_template.py).

Usage: folder = HfFolder(path); folder.config; folder.optional_json(name);
       source = folder.weights()"""
import json
import os
from typing import Any, Dict, List, Optional, Union

import torch

from .errors import CheckpointError
from .safetensors_reader import SafetensorsFile

# In the order they are looked for; an index wins over a single file.
WEIGHT_LAYOUTS = ("model.safetensors.index.json", "model.safetensors",
                  "pytorch_model.bin.index.json", "pytorch_model.bin")


# {shard file: the tensor names an index puts there, or None: all the file holds}
Shards = Dict[str, Optional[List[str]]]


def read_json(path: str) -> Dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except OSError as e:
        raise CheckpointError("%s: cannot read: %s" % (path, e.strerror)) from e
    except ValueError as e:
        raise CheckpointError("%s: not valid JSON: %s" % (path, e)) from e
    if not isinstance(value, dict):
        raise CheckpointError("%s: expected a JSON object" % path)
    return value


class HfFolder:
    def __init__(self, path: str):
        self.path = path
        config = os.path.join(path, "config.json")
        if not os.path.isfile(config):
            raise CheckpointError("%s: no config.json (a Hugging Face model folder needs one)" % path)
        self.config = read_json(config)

    def optional_json(self, name: str) -> Dict[str, Any]:
        path = os.path.join(self.path, name)
        return read_json(path) if os.path.isfile(path) else {}

    def weights(self) -> Union["SafetensorsSource", "TorchBinSource"]:
        for layout in WEIGHT_LAYOUTS:
            path = os.path.join(self.path, layout)
            if not os.path.isfile(path):
                continue
            shards: Shards
            if layout.endswith(".index.json"):
                shards = self._shards(path)
            else:
                shards = {layout: None}
            if layout.startswith("model.safetensors"):
                return SafetensorsSource(self.path, shards)
            return TorchBinSource(self.path, shards)
        raise CheckpointError("%s: no weights: expected one of %s" % (self.path, ", ".join(WEIGHT_LAYOUTS)))

    def _shards(self, index_path: str) -> Shards:
        """{shard file: [tensor names the index puts there]}; every shard must exist."""
        weight_map = read_json(index_path).get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise CheckpointError("%s: no weight_map" % index_path)
        shards: Shards = {}
        for name, shard in weight_map.items():
            if not isinstance(shard, str) or os.path.basename(shard) != shard:
                raise CheckpointError("%s: tensor %s names shard %r, not a file name in the folder"
                                      % (index_path, name, shard))
            shards.setdefault(shard, []).append(name)
        for shard in shards:
            if not os.path.isfile(os.path.join(self.path, shard)):
                raise CheckpointError("%s: missing shard %s (named by %s)"
                                      % (self.path, shard, os.path.basename(index_path)))
        return shards

class SafetensorsSource:
    """Tensors of one or more safetensors files; every file's header is
    checked when the source is made, before anything is loaded."""

    def __init__(self, folder: str, shards: Shards):
        self.description = folder
        self.where: Dict[str, SafetensorsFile] = {}
        for shard, indexed in shards.items():
            reader = SafetensorsFile(os.path.join(folder, shard))
            names = reader.names() if indexed is None else indexed
            for name in names:
                if name not in reader.entries:
                    raise CheckpointError("%s: the index puts tensor %s in %s, which does not hold it"
                                          % (folder, name, shard))
                self.where[name] = reader

    def names(self) -> List[str]:
        return list(self.where)

    def group(self, name: str) -> str:
        return self.where[name].path

    def read(self, name: str) -> torch.Tensor:
        return self.where[name].read(name)

    def release(self, group: str) -> None:
        pass


class TorchBinSource:
    """pytorch_model.bin files (torch.save'd state dicts). A shard is loaded
    whole, once, when its first tensor is read, and dropped after."""

    def __init__(self, folder: str, shards: Shards):
        self.description = folder
        self.folder = folder
        self.where: Dict[str, str] = {}
        self.loaded_path: Optional[str] = None
        self.loaded: Optional[Dict[str, torch.Tensor]] = None
        for shard, indexed in shards.items():
            if indexed is None:  # a single file: its names are known only by loading it
                state = self._load(shard)
                indexed = list(state)
            for name in indexed:
                self.where[name] = shard

    def _load(self, shard: str) -> Dict[str, torch.Tensor]:
        if self.loaded_path != shard:
            self.loaded = None
            path = os.path.join(self.folder, shard)
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as e:  # torch raises many kinds for a corrupt zip or pickle
                raise CheckpointError("%s: cannot load as a PyTorch state dict: %s"
                                      % (path, str(e).splitlines()[0] if str(e) else type(e).__name__)) from e
            if not isinstance(state, dict):
                raise CheckpointError("%s: not a state dict" % path)
            self.loaded_path, self.loaded = shard, state
        return self.loaded

    def names(self) -> List[str]:
        return list(self.where)

    def group(self, name: str) -> str:
        return self.where[name]

    def read(self, name: str) -> torch.Tensor:
        shard = self.where[name]
        state = self._load(shard)
        if name not in state:
            raise CheckpointError("%s: the index puts tensor %s in %s, which does not hold it"
                                  % (self.folder, name, shard))
        return state.pop(name)

    def release(self, group: str) -> None:
        if self.loaded_path == group:
            self.loaded_path, self.loaded = None, None
