#include "eval/example_pages.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <vector>

#include "atman/render/html_report.h"
#include "atman/render/json_input.h"
#include "atman/render/overlay.h"

namespace atman {
namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in) throw std::runtime_error("cannot read " + path.string());
  return text.str();
}

// The METHOD of `item_stem`.METHOD.json, or empty for another file.
std::string method_of(const std::string& file_name, const std::string& item_stem) {
  const std::string prefix = item_stem + ".", suffix = ".json";
  if (file_name.size() <= prefix.size() + suffix.size() || file_name.rfind(prefix, 0) != 0 ||
      file_name.compare(file_name.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return {};
  }
  const std::string method = file_name.substr(prefix.size(), file_name.size() - prefix.size() - suffix.size());
  return method.find('.') == std::string::npos ? method : std::string();
}

}  // namespace

void write_example_page(const fs::path& folder, const std::string& item_stem, const cv::Mat& image_rgb,
                        const Explanation& latest) {
  std::vector<std::pair<std::string, fs::path>> files;
  for (const auto& entry : fs::directory_iterator(folder)) {
    const std::string method = method_of(entry.path().filename().string(), item_stem);
    if (!method.empty()) files.emplace_back(method, entry.path());
  }
  std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) {
    return std::make_pair(a.first != "atman", a.first) < std::make_pair(b.first != "atman", b.first);
  });
  std::vector<Explanation> explanations;
  for (const auto& [method, path] : files) {
    Explanation e = explanation_from_json(read_text(path));
    e.image_config = latest.image_config;
    explanations.push_back(std::move(e));
  }
  if (explanations.empty()) return;
  HtmlReportOptions options;
  options.caption = overlay_caption(latest.prompt, latest.target);
  write_html_report(explanations, image_rgb.empty() ? nullptr : &image_rgb, (folder / (item_stem + ".html")).string(),
                    options);
}

}  // namespace atman
