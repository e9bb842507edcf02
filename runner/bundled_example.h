#pragma once
// The bundled example (data/example/example.json: image, question, target),
// which `atman bench` explains when no input is given.

#include <string>

namespace atman::runner {

struct BundledExample {
  std::string image;  // path of the image, next to example.json
  std::string question;
  std::string target;
};

/// Reads data/example/example.json below the working directory, or else the
/// one of the source tree the binary was built from. Throws
/// std::runtime_error with one line naming the file when it cannot be read.
BundledExample read_bundled_example();

}  // namespace atman::runner
