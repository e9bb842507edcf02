// Tests of the atomic file writer (io/atomic_file.h) that every output goes
// through: replacing, no temporary left, one-line errors.

#include "atman/io/atomic_file.h"

#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test_util.h"

namespace atman {
namespace {

namespace fs = std::filesystem;
using testing::read_file;
using testing::TempDir;

TEST(AtomicFileTest, WritesReplacesAndLeavesNoTemporaryFile) {
  TempDir dir;
  const std::string path = dir.file("out.json");
  write_file_atomically(path, "first");
  write_file_atomically(path, std::string("sec\0ond", 7));
  EXPECT_EQ(read_file(path), std::string("sec\0ond", 7));
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"out.json"});
  write_file_atomically(path, "");
  EXPECT_EQ(read_file(path), "");
  check_output_path(dir.file("other.png"), "overlay");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"out.json"});
}

TEST(AtomicFileTest, RelativePathInTheWorkingFolder) {
  TempDir dir;
  const fs::path previous = fs::current_path();
  fs::current_path(dir.file(""));
  write_file_atomically("relative.txt", "x");
  check_output_path("relative2.txt");
  fs::current_path(previous);
  EXPECT_EQ(read_file(dir.file("relative.txt")), "x");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"relative.txt"});
}

void expect_one_line_error(const std::function<void()>& call, const std::string& message) {
  try {
    call();
    FAIL() << "expected std::runtime_error: " << message;
  } catch (const std::runtime_error& error) {
    EXPECT_EQ(std::string(error.what()), message);
    EXPECT_EQ(std::string(error.what()).find('\n'), std::string::npos);
  }
}

TEST(AtomicFileTest, MissingFolderFailsWithOneLine) {
  const std::string path = "/nonexistent-atman-folder/sub/x.png";
  const std::string message = "cannot write overlay: " + path + ": No such file or directory";
  expect_one_line_error([&] { write_file_atomically(path, "data", "overlay"); }, message);
  expect_one_line_error([&] { check_output_path(path, "overlay"); }, message);
}

TEST(AtomicFileTest, UnwritablePathFailsWithOneLineEvenForRoot) {
  // A path below a regular file cannot be created, whoever we are.
  TempDir dir;
  write_file_atomically(dir.file("plain"), "I am a file");
  const std::string below_file = dir.file("plain") + "/x.json";
  const std::string message = "cannot write json: " + below_file + ": Not a directory";
  expect_one_line_error([&] { write_file_atomically(below_file, "{}", "json"); }, message);
  expect_one_line_error([&] { check_output_path(below_file, "json"); }, message);
  expect_one_line_error([&] { write_file_atomically("/etc/hostname/x", "{}", "json"); },
                        "cannot write json: /etc/hostname/x: Not a directory");
  EXPECT_EQ(read_file(dir.file("plain")), "I am a file");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"plain"});
}

TEST(AtomicFileTest, FolderOrEmptyPathFails) {
  TempDir dir;
  expect_one_line_error([&] { write_file_atomically(dir.file(""), "x", "html"); },
                        "cannot write html: " + dir.file("") + ": the path names a folder, not a file");
  const std::string folder = dir.file("folder");
  fs::create_directory(folder);
  expect_one_line_error([&] { write_file_atomically(folder, "x", "html"); },
                        "cannot write html: " + folder + ": is a folder");
  expect_one_line_error([&] { check_output_path(folder, "html"); }, "cannot write html: " + folder + ": is a folder");
  expect_one_line_error([&] { write_file_atomically("", "x", "html"); }, "cannot write html: the path is empty");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"folder"});
}

}  // namespace
}  // namespace atman
