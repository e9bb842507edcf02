// FNV-1a fingerprints (base/fingerprint.h) against the algorithm's published
// test vectors, and a file read in blocks against its bytes in one piece.
#include "atman/base/fingerprint.h"

#include <string>

#include <gtest/gtest.h>

#include "test_util.h"

namespace atman {
namespace {

using testing::expect_error;

TEST(FingerprintTest, PublishedFnv1a64Vectors) {
  EXPECT_EQ(fingerprint_hex(""), "cbf29ce484222325");  // the offset basis
  EXPECT_EQ(fingerprint_hex("a"), "af63dc4c8601ec8c");
  EXPECT_EQ(fingerprint_hex("foobar"), "85944171f73967e8");
}

TEST(FingerprintTest, TheSeedComesFirst) {
  EXPECT_EQ(fingerprint_hex("bar", "foo"), fingerprint_hex("foobar"));
  EXPECT_NE(fingerprint_hex("foo", "bar"), fingerprint_hex("foobar"));
}

TEST(FingerprintTest, AFileEqualsItsBytesAcrossBlockBoundaries) {
  testing::TempDir tmp;
  std::string bytes;
  for (int i = 0; i < (1 << 16) * 2 + 77; ++i) bytes += static_cast<char>((i * 131) & 0xff);
  const std::string path = tmp.path("blob.bin");
  testing::write_file(path, bytes);
  EXPECT_EQ(file_fingerprint_hex(path), fingerprint_hex(bytes));
  EXPECT_EQ(file_fingerprint_hex(path, "seed"), fingerprint_hex(bytes, "seed"));
}

TEST(FingerprintTest, AnUnreadableFileIsAnErrorNotAnEmptyHash) {
  testing::TempDir tmp;
  expect_error([&] { file_fingerprint_hex(tmp.path("missing.pt")); },
               {"missing.pt", "cannot read it to fingerprint it"});
  expect_error([&] { file_fingerprint_hex(tmp.dir().string()); }, {"a folder, not a file to fingerprint"});
}

}  // namespace
}  // namespace atman
