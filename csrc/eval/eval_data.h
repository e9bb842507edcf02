#pragma once
// Held-out benchmark sets (tools/make_datasets.py) and their ground truth in
// sequence positions, for `atman eval`.
//
// A set is a folder with items.jsonl, one JSON object per line. Two kinds of
// item are understood, by their fields:
//   image items (shapes_vqa): "image" and "mask" (paths relative to the
//     folder; the mask is nonzero on the asked object), "question" (fills the
//     model's prompt_template) or "prompt" (verbatim), "target".
//     Evaluated positions: the image patches. Ground truth: the patches whose
//     area the mask covers by at least 25%, on the model's patch grid with
//     the edges of tools/benchdata/shapes.py patch_coverage (numpy
//     linspace(0, side, grid + 1).round(): round half to even).
//   text items (facts_qa): "prompt" (verbatim), "target", "evidence_span"
//     [start, end) in prompt characters (Unicode code points).
//     Evaluated positions: the prompt's text tokens (sentencepiece pieces of
//     the prompt; BOS, which stands for no character, is left out). Ground
//     truth: the tokens whose character range overlaps the evidence span
//     (sentencepiece's alignment: a piece "\u2581Word" covers the space
//     before the word, so the piece after the span's last character does
//     not count, the span's first word does).
//   text items without "evidence_span" (stories): "prompt", "target"; the
//     same evaluated positions, no ground truth (the localisation metrics
//     are NaN; the faithfulness curves and the agreement with LOO are not).
//
// Usage:
//   std::vector<EvalSet> sets = load_eval_sets("data/heldout");  // or data/heldout/facts_qa
//   GroundTruth gt = ground_truth(*model, sets[0].items[0], prepared.sequence);

#include <cstdint>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "atman/model/model.h"
#include "atman/model/sequence.h"

namespace atman {

enum class EvalItemKind { kImageMask, kTextSpan };

/// One line of items.jsonl.
struct EvalItem {
  std::string id;
  std::string task;
  EvalItemKind kind = EvalItemKind::kTextSpan;
  int64_t line = 0;           // 1-based line in items.jsonl
  std::string question;       // image items: fills prompt_template (empty when "prompt" is given)
  std::string prompt;         // verbatim prompt (text items; image items with "prompt")
  std::string target;
  std::string image_path;     // image items, resolved against the set's folder
  std::string mask_path;
  int64_t span_begin = 0;     // text items: evidence span in characters
  int64_t span_end = 0;
};

/// One items.jsonl folder.
struct EvalSet {
  std::string task;  // the items' "task" (else the folder's name)
  std::string folder;
  std::vector<EvalItem> items;
};

/// `dir` is either a set folder (with items.jsonl) or a folder of set
/// folders (each subfolder with items.jsonl, taken in name order). Throws
/// std::runtime_error naming the file and line of any bad item, or when no
/// set is found.
std::vector<EvalSet> load_eval_sets(const std::string& dir);

/// The prompt of an item for `config` (its question in the template, or its verbatim prompt).
std::string item_prompt(const ModelConfig& config, const EvalItem& item);

/// Fraction of each patch that the mask (nonzero pixels, one channel) covers,
/// row-major over a rows x cols grid, edges as described above.
std::vector<double> mask_patch_coverage(const cv::Mat& mask, int64_t rows, int64_t cols);
/// The same through image.resize (docs/contract.md, "Pixels"): with stretch as
/// above; with center_crop or pad each patch is its rectangle of the mask
/// through the crop or the padding (io/image.h patch_rectangles), and the
/// fraction is of the patch's whole area, padding included (padding is never
/// covered; a patch that lies wholly in the padding gets 0).
std::vector<double> mask_patch_coverage(const cv::Mat& mask, const ImageConfig& config);
/// Reads a mask image (any format OpenCV reads; nonzero = inside). Throws naming the file.
cv::Mat read_mask(const std::string& path);

/// Ground truth of one item over its evaluated positions.
struct GroundTruth {
  std::vector<int64_t> positions;  // sequence positions evaluated, in order
  std::vector<int> truth;          // 1 = part of the ground truth, per position
};

/// For an image item: all image positions of `sequence` (where the image
/// stands: first, or at {image}), truth from the mask; with `image` (the
/// model's image config) the patches map through its image.resize.
GroundTruth image_ground_truth(const cv::Mat& mask, const Sequence& sequence, double min_cover = 0.25,
                               const ImageConfig* image = nullptr);
/// For a text item: the prompt's non-special text positions, truth from the
/// evidence span [span_begin, span_end) in characters of sequence.prompt
/// (with {image} in the prompt, the text before and after it, each part as
/// the sequence encoded it).
/// Span [-1, -1): no evidence, every truth 0 (the positions alone).
/// Throws std::invalid_argument when the span lies outside the prompt.
GroundTruth text_ground_truth(const Tokenizer& tokenizer, const Sequence& sequence, int64_t span_begin,
                              int64_t span_end);

}  // namespace atman
