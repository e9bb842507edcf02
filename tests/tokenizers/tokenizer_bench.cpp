// Tokenizer throughput of atman's tokenizer.json backend: encodes one text
// file with each given tokenizer.json and prints MB/s (first pass, with an
// empty word cache, and the best of the repeats after it). Not a test: run by
// tests/tokenizers/bench.sh beside the JavaScript reference (bench.cjs).
//
// Usage: atman_tokenizer_bench [--ids DIR] TEXT_FILE REPEATS NAME=TOKENIZER_JSON...
//   --ids DIR   also writes DIR/NAME.cpp.ids (one id a line) to compare with bench.cjs's

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "atman/model/tokenizer.h"

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::string ids_dir;
  if (argc > 2 && std::string(argv[1]) == "--ids") {
    ids_dir = argv[2];
    argv += 2;
    argc -= 2;
  }
  if (argc < 4) {
    std::cerr << "usage: atman_tokenizer_bench [--ids DIR] TEXT_FILE REPEATS NAME=TOKENIZER_JSON...\n";
    return 2;
  }
  try {
    const std::string text = slurp(argv[1]);
    const int repeats = std::stoi(argv[2]);
    const double mb = static_cast<double>(text.size()) / 1e6;
    for (int a = 3; a < argc; ++a) {
      const std::string arg = argv[a];
      const size_t eq = arg.find('=');
      const std::string name = arg.substr(0, eq);
      auto start = std::chrono::steady_clock::now();
      const atman::Tokenizer tok = atman::Tokenizer::from_hf_json(slurp(arg.substr(eq + 1)), name);
      const double load_s = seconds_since(start);
      start = std::chrono::steady_clock::now();
      const std::vector<int64_t> ids = tok.encode(text);
      const double first_s = seconds_since(start);
      const size_t tokens = ids.size();
      if (!ids_dir.empty()) {
        std::ofstream out(ids_dir + "/" + name + ".cpp.ids");
        for (int64_t id : ids) out << id << "\n";
      }
      double best_s = first_s;
      for (int r = 0; r < repeats; ++r) {
        start = std::chrono::steady_clock::now();
        tok.encode(text);
        best_s = std::min(best_s, seconds_since(start));
      }
      std::printf("C++ atman  %-7s %.2f MB, %zu tokens: first pass %.2f MB/s, best of %d %.2f MB/s (load %.2f s)\n",
                  name.c_str(), mb, tokens, mb / first_s, repeats, mb / best_s, load_s);
    }
  } catch (const std::exception& e) {
    std::cerr << "atman_tokenizer_bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
