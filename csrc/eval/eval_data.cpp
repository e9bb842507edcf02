#include "eval/eval_data.h"

#include <algorithm>
#include <cfenv>
#include <cmath>
#include <stdexcept>

#include <c10/util/Exception.h>
#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <utf8.h>

#include "eval/dataset.h"

namespace atman {
namespace {

// numpy's linspace(0, side, n + 1).round(): k * (side / n), the last edge
// exactly `side`, rounded half to even.
std::vector<int> grid_edges(int side, int64_t n) {
  std::vector<int> edges(n + 1);
  const double step = static_cast<double>(side) / static_cast<double>(n);
  const int mode = std::fegetround();
  std::fesetround(FE_TONEAREST);
  for (int64_t k = 0; k <= n; ++k) {
    const double v = k == n ? static_cast<double>(side) : static_cast<double>(k) * step;
    edges[k] = static_cast<int>(std::nearbyint(v));
  }
  std::fesetround(mode);
  return edges;
}

}  // namespace

std::vector<EvalSet> load_eval_sets(const std::string& dir) {
  std::vector<EvalSet> sets;
  for_each_dataset_item(dir, [&](const DatasetItem& row) {
    EvalItem item;
    item.line = row.line;
    item.id = row.id.empty() ? fmt::format("line-{}", row.line) : row.id;
    item.task = row.task;
    if (row.target.empty()) throw std::runtime_error("\"target\" must be a string");
    item.target = row.target;
    if (!row.image.empty() || !row.mask.empty()) {
      item.kind = EvalItemKind::kImageMask;
      if (row.image.empty()) throw std::runtime_error("\"image\" must be a string");
      if (row.mask.empty()) throw std::runtime_error("\"mask\" must be a string");
      item.image_path = row.image;
      item.mask_path = row.mask;
      item.prompt = row.prompt;
      if (row.prompt.empty() && row.question.empty()) throw std::runtime_error("\"question\" must be a string");
      if (row.prompt.empty()) item.question = row.question;
    } else if (row.evidence_span[0] >= 0) {
      item.kind = EvalItemKind::kTextSpan;
      if (row.prompt.empty()) throw std::runtime_error("\"prompt\" must be a string");
      item.prompt = row.prompt;
      item.span_begin = row.evidence_span[0];
      item.span_end = row.evidence_span[1];
    } else {
      throw std::runtime_error("an item needs \"image\" and \"mask\" (image task) or \"evidence_span\" (text task)");
    }
    if (sets.empty() || sets.back().folder != row.folder) sets.push_back(EvalSet{item.task, row.folder, {}});
    sets.back().items.push_back(std::move(item));
  });
  return sets;
}

std::string item_prompt(const ModelConfig& config, const EvalItem& item) {
  return item.prompt.empty() ? prompt_from_question(config, item.question) : item.prompt;
}

cv::Mat read_mask(const std::string& path) {
  cv::Mat mask = cv::imread(path, cv::IMREAD_GRAYSCALE);
  if (mask.empty()) throw std::runtime_error(path + ": mask image cannot be read");
  return mask;
}

std::vector<double> mask_patch_coverage(const cv::Mat& mask, int64_t rows, int64_t cols) {
  TORCH_CHECK(!mask.empty() && mask.channels() == 1, "mask_patch_coverage: expected a one-channel mask");
  TORCH_CHECK(rows > 0 && cols > 0 && rows <= mask.rows && cols <= mask.cols,
              "mask_patch_coverage: grid ", rows, "x", cols, " does not fit a ", mask.rows, "x", mask.cols, " mask");
  cv::Mat inside;
  cv::compare(mask, 0, inside, cv::CMP_NE);
  cv::Mat integral;
  cv::integral(inside / 255, integral, CV_64F);
  const std::vector<int> ys = grid_edges(mask.rows, rows);
  const std::vector<int> xs = grid_edges(mask.cols, cols);
  std::vector<double> coverage;
  coverage.reserve(rows * cols);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const int y0 = ys[r], y1 = ys[r + 1], x0 = xs[c], x1 = xs[c + 1];
      const double sum = integral.at<double>(y1, x1) - integral.at<double>(y0, x1) - integral.at<double>(y1, x0) +
                         integral.at<double>(y0, x0);
      const double area = static_cast<double>(y1 - y0) * (x1 - x0);
      coverage.push_back(area > 0 ? sum / area : 0.0);
    }
  }
  return coverage;
}

GroundTruth image_ground_truth(const cv::Mat& mask, const Sequence& sequence, double min_cover) {
  TORCH_CHECK(sequence.image_positions > 0 && sequence.grid_rows * sequence.grid_cols == sequence.image_positions,
              "image_ground_truth: the sequence has no image grid");
  const std::vector<double> coverage = mask_patch_coverage(mask, sequence.grid_rows, sequence.grid_cols);
  GroundTruth gt;
  for (int64_t p = 0; p < sequence.image_positions; ++p) {
    gt.positions.push_back(p);
    gt.truth.push_back(coverage[p] >= min_cover ? 1 : 0);
  }
  return gt;
}

GroundTruth text_ground_truth(const Tokenizer& tokenizer, const Sequence& sequence, int64_t span_begin,
                              int64_t span_end) {
  const std::string& prompt = sequence.prompt;
  // Character index -> byte offset (Unicode code points, as Python counts).
  std::vector<int64_t> byte_of{0};
  for (auto it = prompt.begin(); it != prompt.end();) {
    utf8::next(it, prompt.end());
    byte_of.push_back(it - prompt.begin());
  }
  const int64_t chars = static_cast<int64_t>(byte_of.size()) - 1;
  if (span_begin < 0 || span_end <= span_begin || span_end > chars) {
    throw std::invalid_argument(fmt::format("evidence span [{}, {}) lies outside the prompt's {} characters",
                                            span_begin, span_end, chars));
  }
  const int64_t b0 = byte_of[span_begin], b1 = byte_of[span_end];
  const std::vector<TokenSpan> tokens = tokenizer.encode_with_offsets(prompt);
  // The prompt's tokens sit at the end of prompt_ids (after BOS when add_bos).
  const int64_t first = static_cast<int64_t>(sequence.prompt_ids.size()) - static_cast<int64_t>(tokens.size());
  TORCH_CHECK(first >= 0, "text_ground_truth: the sequence has fewer prompt ids than the prompt's tokens");
  for (size_t k = 0; k < tokens.size(); ++k) {
    TORCH_CHECK(sequence.prompt_ids[first + k] == tokens[k].id,
                "text_ground_truth: token ", k, " of the prompt differs from the sequence's");
  }
  GroundTruth gt;
  // Leading ids that stand for no prompt character (BOS) are not evaluated.
  for (size_t k = 0; k < tokens.size(); ++k) {
    if (tokenizer.is_special(tokens[k].id)) continue;
    gt.positions.push_back(sequence.prompt_begin() + first + static_cast<int64_t>(k));
    gt.truth.push_back(tokens[k].begin < b1 && tokens[k].end > b0 ? 1 : 0);
  }
  return gt;
}

}  // namespace atman
