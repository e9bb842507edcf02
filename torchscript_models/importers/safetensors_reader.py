"""Reads safetensors files (https://huggingface.co/docs/safetensors): an 8-byte
little-endian header length N, N bytes of JSON {name: {dtype, shape,
data_offsets: [begin, end]}, "__metadata__": {str: str}}, then the raw
little-endian data, offsets relative to its start. Every header field is
checked against the file before any tensor is read; tensors are read one at
a time with plain file reads, so memory holds one tensor, not the file.

Usage: reader = SafetensorsFile(path); reader.names(); reader.shape(name);
       tensor = reader.read(name)  # a torch tensor of the stored dtype"""
import json
import os
import struct
from typing import Dict, List, Tuple

import numpy as np
import torch

from .errors import CheckpointError

# name -> (dtype, shape, begin, end), offsets relative to the data's start.
Entry = Tuple[str, Tuple[int, ...], int, int]

# dtype -> bytes per element, for every dtype the format defines.
ITEM_SIZE = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2, "F16": 2,
             "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}
# The dtypes a weight may have; bfloat16 is read as 16-bit integers and
# reinterpreted, since numpy has no bfloat16.
WEIGHT_DTYPES = {"F32": ("<f4", None), "F16": ("<f2", None), "BF16": ("<i2", torch.bfloat16),
                 "F64": ("<f8", None)}
MAX_HEADER_BYTES = 100 * 1024 * 1024


class SafetensorsFile:
    def __init__(self, path: str):
        self.path = path
        try:
            size = os.path.getsize(path)
            with open(path, "rb") as f:
                head = f.read(8)
                if len(head) < 8:
                    raise CheckpointError("%s: truncated safetensors file: %d bytes, the header length alone takes 8"
                                          % (path, size))
                (header_len,) = struct.unpack("<Q", head)
                if header_len > MAX_HEADER_BYTES or 8 + header_len > size:
                    raise CheckpointError("%s: truncated safetensors file: header length %d, but the file has %d bytes"
                                          % (path, header_len, size))
                raw = f.read(header_len)
        except OSError as e:
            raise CheckpointError("%s: cannot read: %s" % (path, e.strerror)) from e
        try:
            header = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise CheckpointError("%s: safetensors header is not JSON: %s" % (path, e)) from e
        if not isinstance(header, dict):
            raise CheckpointError("%s: safetensors header is not a JSON object" % path)
        self.data_start = 8 + header_len
        self.data_size = size - self.data_start
        metadata = header.pop("__metadata__", {})
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            raise CheckpointError("%s: __metadata__ must map strings to strings" % path)
        self.entries: Dict[str, Entry] = {name: self._checked(name, entry) for name, entry in header.items()}
        self._check_no_overlap()

    def _checked(self, name: str, entry: object) -> Entry:
        where = "%s: tensor %s" % (self.path, name)
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise CheckpointError("%s: header entry must have exactly dtype, shape, data_offsets" % where)
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in ITEM_SIZE:
            raise CheckpointError("%s: dtype %r is not a safetensors dtype (%s)"
                                  % (where, dtype, ", ".join(sorted(ITEM_SIZE))))
        if not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape):
            raise CheckpointError("%s: shape %r is not a list of non-negative integers" % (where, shape))
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(type(n) is int and n >= 0 for n in offsets) or offsets[0] > offsets[1]):
            raise CheckpointError("%s: data_offsets %r is not [begin, end] with 0 <= begin <= end" % (where, offsets))
        begin, end = offsets
        if end > self.data_size:
            raise CheckpointError("%s: data_offsets [%d, %d] lie outside the file's %d data bytes "
                                  "(truncated or corrupt file)" % (where, begin, end, self.data_size))
        expected = int(np.prod(shape, dtype=np.int64)) * ITEM_SIZE[dtype]
        if end - begin != expected:
            raise CheckpointError("%s: shape %s of %s needs %d bytes, data_offsets give %d"
                                  % (where, shape, dtype, expected, end - begin))
        return dtype, tuple(shape), begin, end

    def _check_no_overlap(self) -> None:
        spans = sorted((begin, end, name) for name, (_, _, begin, end) in self.entries.items() if end > begin)
        for (b0, e0, n0), (b1, e1, n1) in zip(spans, spans[1:]):
            if b1 < e0:
                raise CheckpointError("%s: tensors %s [%d, %d] and %s [%d, %d] overlap"
                                      % (self.path, n0, b0, e0, n1, b1, e1))

    def names(self) -> List[str]:
        return list(self.entries)

    def shape(self, name: str) -> Tuple[int, ...]:
        return self.entries[name][1]

    def read(self, name: str) -> torch.Tensor:
        dtype, shape, begin, end = self.entries[name]
        if dtype not in WEIGHT_DTYPES:
            raise CheckpointError("%s: tensor %s has dtype %s; weights must be one of %s"
                                  % (self.path, name, dtype, ", ".join(WEIGHT_DTYPES)))
        np_dtype, torch_view = WEIGHT_DTYPES[dtype]
        count = (end - begin) // ITEM_SIZE[dtype]
        array = np.fromfile(self.path, dtype=np_dtype, count=count, offset=self.data_start + begin)
        if array.size != count:
            raise CheckpointError("%s: tensor %s: file ended after %d of %d values"
                                  % (self.path, name, array.size, count))
        tensor = torch.from_numpy(array.astype(array.dtype.newbyteorder("="), copy=False))
        if torch_view is not None:
            tensor = tensor.view(torch_view)
        return tensor.reshape(shape)
