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

#include "atman/io/image.h"
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
    } else if (!row.prompt.empty()) {
      item.kind = EvalItemKind::kTextSpan;  // no evidence: faithfulness only (span -1, -1)
      item.prompt = row.prompt;
      item.span_begin = item.span_end = -1;
    } else {
      throw std::runtime_error(
          "an item needs \"image\" and \"mask\" (image task) or \"prompt\" (text task, with \"evidence_span\" for "
          "the localisation metrics)");
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

std::vector<double> mask_patch_coverage(const cv::Mat& mask, const ImageConfig& config) {
  if (config.resize == ImageResize::kStretch) return mask_patch_coverage(mask, config.grid_rows, config.grid_cols);
  TORCH_CHECK(!mask.empty() && mask.channels() == 1, "mask_patch_coverage: expected a one-channel mask");
  cv::Mat inside;
  cv::compare(mask, 0, inside, cv::CMP_NE);
  cv::Mat integral;
  cv::integral(inside / 255, integral, CV_64F);
  const ImageView view = model_view(mask.cols, mask.rows, config);
  const double cell_area = (view.x1 - view.x0) / static_cast<double>(config.grid_cols) * (view.y1 - view.y0) /
                           static_cast<double>(config.grid_rows);
  std::vector<double> coverage;
  for (const PixelRect& r : patch_rectangles(mask.cols, mask.rows, config)) {
    const double sum = r.width() <= 0 || r.height() <= 0
                           ? 0.0
                           : integral.at<double>(r.y1, r.x1) - integral.at<double>(r.y0, r.x1) -
                                 integral.at<double>(r.y1, r.x0) + integral.at<double>(r.y0, r.x0);
    coverage.push_back(cell_area > 0 ? std::min(1.0, sum / cell_area) : 0.0);
  }
  return coverage;
}

GroundTruth image_ground_truth(const cv::Mat& mask, const Sequence& sequence, double min_cover,
                               const ImageConfig* image) {
  TORCH_CHECK(sequence.image_positions > 0 && sequence.grid_rows * sequence.grid_cols == sequence.image_positions,
              "image_ground_truth: the sequence has no image grid");
  const std::vector<double> coverage = image ? mask_patch_coverage(mask, *image)
                                             : mask_patch_coverage(mask, sequence.grid_rows, sequence.grid_cols);
  GroundTruth gt;
  for (int64_t p = 0; p < sequence.image_positions; ++p) {
    gt.positions.push_back(sequence.image_begin + p);
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
  const bool no_span = span_begin == -1 && span_end == -1;  // an item without evidence: every truth 0
  if (!no_span && (span_begin < 0 || span_end <= span_begin || span_end > chars)) {
    throw std::invalid_argument(fmt::format("evidence span [{}, {}) lies outside the prompt's {} characters",
                                            span_begin, span_end, chars));
  }
  const int64_t b0 = no_span ? 0 : byte_of[span_begin], b1 = no_span ? 0 : byte_of[span_end];
  // The prompt's text parts as build_sequence encoded them: the whole
  // prompt, or the text before and after {image} (docs/contract.md).
  struct Part {
    size_t byte_begin;
    std::string text;
    int64_t first_id;  // index into prompt_ids of the part's first token
  };
  std::vector<Part> parts;
  if (sequence.image_marker == std::string::npos) {
    parts.push_back({0, prompt, -1});  // the prompt's tokens sit at the end of prompt_ids (after BOS)
  } else {
    const size_t after = sequence.image_marker + std::string(kImageMarker).size();
    const std::string before_text = prompt.substr(0, sequence.image_marker), after_text = prompt.substr(after);
    const int64_t before_ids = before_text.empty() ? 0 : static_cast<int64_t>(tokenizer.encode(before_text).size());
    const int64_t after_ids = after_text.empty() ? 0 : static_cast<int64_t>(tokenizer.encode(after_text).size());
    const int64_t first = static_cast<int64_t>(sequence.prompt_ids.size()) - before_ids - after_ids;
    if (!before_text.empty()) parts.push_back({0, before_text, first});
    if (!after_text.empty()) parts.push_back({after, after_text, first + before_ids});
  }
  GroundTruth gt;
  for (Part& part : parts) {
    const std::vector<TokenSpan> tokens = tokenizer.encode_with_offsets(part.text);
    if (part.first_id < 0) part.first_id = static_cast<int64_t>(sequence.prompt_ids.size() - tokens.size());
    TORCH_CHECK(part.first_id >= 0 && part.first_id + static_cast<int64_t>(tokens.size()) <=
                                          static_cast<int64_t>(sequence.prompt_ids.size()),
                "text_ground_truth: the sequence has fewer prompt ids than the prompt's tokens");
    for (size_t k = 0; k < tokens.size(); ++k) {
      TORCH_CHECK(sequence.prompt_ids[part.first_id + k] == tokens[k].id, "text_ground_truth: token ", k,
                  " of the prompt differs from the sequence's");
    }
    // Leading ids that stand for no prompt character (BOS) are not evaluated.
    for (size_t k = 0; k < tokens.size(); ++k) {
      if (tokenizer.is_special(tokens[k].id)) continue;
      const int64_t begin = static_cast<int64_t>(part.byte_begin) + tokens[k].begin;
      const int64_t end = static_cast<int64_t>(part.byte_begin) + tokens[k].end;
      gt.positions.push_back(sequence.prompt_position(part.first_id + static_cast<int64_t>(k)));
      gt.truth.push_back(begin < b1 && end > b0 ? 1 : 0);
    }
  }
  return gt;
}

}  // namespace atman
