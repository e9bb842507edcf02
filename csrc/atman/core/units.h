#pragma once
// The explained units (docs/method.md, "Groups"): every image patch
// alone, text positions grouped into tokens, words or sentences.

#include <cstdint>
#include <vector>

#include "atman/core/options.h"
#include "atman/model/sequence.h"

namespace atman {

/// The explained units in sequence order: every image patch alone (where the
/// image stands: first, or at {image}), the prompt's and the target's (but the
/// last) text positions grouped by `granularity`. Groups never cross the
/// image or the prompt/target boundary; control
/// tokens (BOS) are their own group. A word starts at a piece beginning with
/// "▁"; a sentence ends after a piece ending in '.', '?' or '!'.
std::vector<std::vector<int64_t>> explained_groups(const Sequence& sequence, Granularity granularity,
                                                   const Tokenizer& tokenizer);

}  // namespace atman
