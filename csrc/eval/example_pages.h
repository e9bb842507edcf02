#pragma once
// `atman eval --examples`' HTML pages: examples/TASK/ITEM.html shows every
// method's explanation of the item (its ITEM.METHOD.json files) on one page,
// with a switch between their maps (render/html_report.h).

#include <filesystem>
#include <string>

#include <opencv2/core.hpp>

#include "atman/core/explanation.h"

namespace atman {

/// (Re)writes `folder`/`item_stem`.html from every `item_stem`.METHOD.json in
/// `folder` (METHOD without dots; AtMan first, then by name). `image_rgb` is
/// the item's image (empty for text items); `latest` is the explanation just
/// written, whose image config (the model's) the read-back ones share.
void write_example_page(const std::filesystem::path& folder, const std::string& item_stem, const cv::Mat& image_rgb,
                        const Explanation& latest);

}  // namespace atman
