#pragma once
// The page's files (runner/serve/web/), built into the binary so that the
// service needs no files and no network at run time.

#include <string>
#include <vector>

namespace atman::serve {

struct WebAsset {
  std::string path;          // "/", "/app.js", "/style.css"
  std::string content_type;
  std::string content;
};

const std::vector<WebAsset>& web_assets();

}  // namespace atman::serve
