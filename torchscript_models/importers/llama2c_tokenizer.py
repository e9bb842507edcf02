"""llama2.c's tokenizer.bin as a sentencepiece BPE model that tokenizes as
llama2.c's run.c does: a dummy-prefix space, spaces as U+2581, characters
missing from the vocabulary as byte pieces <0xNN>, then repeated merges of
the adjacent pair whose merged piece has the highest score (sentencepiece's
BPE encoder is that same algorithm). Ids: 0 <unk>, 1 <s> (BOS), 2 </s> (EOS).

tokenizer.bin: int32 max token length; per piece float32 score, int32 byte
length, the bytes (spaces as ' ', BOS/EOS written as "\\n<s>\\n", "\\n</s>\\n").

Usage: model_bytes = convert_llama2c_tokenizer("tok512.bin")"""
import re
import struct

from .errors import CheckpointError

BYTE_PIECE = re.compile(r"^<0x[0-9A-F]{2}>$")


def read_llama2c_tokenizer(path):
    """[(piece text, score)] in id order."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise CheckpointError("%s: cannot read: %s" % (path, e.strerror)) from e
    if len(data) < 4:
        raise CheckpointError("%s: not a llama2.c tokenizer.bin (%d bytes)" % (path, len(data)))
    pieces, offset = [], 4
    while offset < len(data):
        if offset + 8 > len(data):
            raise CheckpointError("%s: llama2.c tokenizer.bin ends inside piece %d" % (path, len(pieces)))
        score, length = struct.unpack_from("<fi", data, offset)
        offset += 8
        if length < 0 or offset + length > len(data):
            raise CheckpointError("%s: llama2.c tokenizer.bin: piece %d has byte length %d beyond the file"
                                  % (path, len(pieces), length))
        try:
            text = data[offset:offset + length].decode("utf-8")
        except UnicodeDecodeError as e:
            raise CheckpointError("%s: llama2.c tokenizer.bin: piece %d is not UTF-8" % (path, len(pieces))) from e
        pieces.append((text, score))
        offset += length
    if len(pieces) < 259 or [p.strip() for p, _ in pieces[:3]] != ["<unk>", "<s>", "</s>"] \
            or not all(BYTE_PIECE.match(p) for p, _ in pieces[3:259]):
        raise CheckpointError("%s: not a llama2.c tokenizer.bin with <unk>, <s>, </s> and the 256 byte "
                              "pieces first" % path)
    return pieces


def convert_llama2c_tokenizer(path):
    """Serialized sentencepiece ModelProto bytes."""
    from sentencepiece import sentencepiece_model_pb2 as pb
    pieces = read_llama2c_tokenizer(path)
    model = pb.ModelProto()
    kinds = {0: pb.ModelProto.SentencePiece.UNKNOWN, 1: pb.ModelProto.SentencePiece.CONTROL,
             2: pb.ModelProto.SentencePiece.CONTROL}
    for i, (text, score) in enumerate(pieces):
        piece = model.pieces.add()
        if i < 3:
            piece.piece = text.strip()
        else:
            piece.piece = text.replace(" ", "\u2581")
        piece.score = score
        piece.type = kinds.get(i, pb.ModelProto.SentencePiece.BYTE if i < 259 else pb.ModelProto.SentencePiece.NORMAL)
    spec = model.trainer_spec
    spec.model_type = pb.TrainerSpec.BPE
    spec.vocab_size = len(pieces)
    spec.byte_fallback = True
    spec.unk_id, spec.bos_id, spec.eos_id, spec.pad_id = 0, 1, 2, -1
    norm = model.normalizer_spec
    norm.name = "identity"
    norm.add_dummy_prefix = True
    norm.remove_extra_whitespaces = False  # run.c keeps every space
    norm.escape_whitespaces = True
    return model.SerializeToString()
