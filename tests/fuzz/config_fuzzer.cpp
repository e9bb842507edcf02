// libFuzzer target: atman::parse_model_config on arbitrary bytes.
//
// Properties checked: it returns a config that satisfies every documented
// invariant, or throws std::runtime_error with one line that names the
// origin; nothing else escapes (libFuzzer reports any other exception, a
// crash or a sanitizer finding). prompt_from_question is run on the result.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "atman/model/model.h"
#include "atman/model/sequence.h"

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant violated: %s\n", what);
    std::abort();
  }
}

void check_message(const std::exception& e, const char* origin) {
  const std::string what = e.what();
  require(what.rfind(origin, 0) == 0, "message starts with the origin");
  require(what.find('\n') == std::string::npos, "message is one line");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  atman::ModelConfig c;
  try {
    c = atman::parse_model_config(text, "fuzz.pt");
  } catch (const std::runtime_error& e) {
    check_message(e, "fuzz.pt: ");
    return 0;
  }
  require(c.contract == 1, "contract 1");
  require(!c.name.empty(), "name");
  for (char ch : c.name) require(static_cast<unsigned char>(ch) >= 0x20 && ch != 0x7f, "name is printable");
  require(c.vocab_size >= 1 && c.hidden_size >= 1 && c.num_layers >= 1 && c.num_heads >= 1, "sizes");
  require(c.max_positions >= 2, "max_positions");
  require(c.bos_id >= 0 && c.bos_id < c.vocab_size, "bos_id");
  require(!c.eos_id || (*c.eos_id >= 0 && *c.eos_id < c.vocab_size), "eos_id");
  require(c.prompt_template.find("{question}") != std::string::npos, "template");
  if (c.image) {
    const atman::ImageConfig& i = *c.image;
    require(i.height >= 1 && i.width >= 1 && i.height <= 8192 && i.width <= 8192, "image.size");
    require(i.grid_rows >= 1 && i.grid_cols >= 1 && i.grid_rows <= i.height && i.grid_cols <= i.width, "image.grid");
    require(i.patches() < c.max_positions, "patches < max_positions");
    for (double s : i.std) require(s > 0, "image.std");
  }
  try {
    const std::string prompt = atman::prompt_from_question(c, "What color is the circle?");
    require(prompt.find("What color is the circle?") != std::string::npos, "question filled in");
  } catch (const std::invalid_argument& e) {
    check_message(e, "");  // e.g. a template that is not valid UTF-8 after filling
  }
  return 0;
}
