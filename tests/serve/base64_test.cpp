// base64 against RFC 4648's test vectors (section 10) and hand-made bad inputs.

#include "base64.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace atman::serve {
namespace {

TEST(Base64Test, Rfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},  {"foob", "Zm9vYg=="},  {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(base64_encode(plain), encoded);
    EXPECT_EQ(base64_decode(encoded), plain);
  }
}

TEST(Base64Test, AllBytesRoundTrip) {
  std::string bytes;
  for (int b = 0; b < 256; ++b) bytes += static_cast<char>(b);
  EXPECT_EQ(base64_decode(base64_encode(bytes)), bytes);
  EXPECT_EQ(base64_encode("\xff\xfe"), "//4=");
}

TEST(Base64Test, PaddingOptionalWhitespaceAndDataUrls) {
  EXPECT_EQ(base64_decode("Zg"), "f");
  EXPECT_EQ(base64_decode("Zm9v\nYmFy\r\n"), "foobar");
  EXPECT_EQ(base64_decode("data:image/png;base64,Zm9v"), "foo");
}

TEST(Base64Test, BadInputGetsOneLine) {
  testing::expect_error([] { base64_decode("Zm9v!"); }, {"not base64: unexpected character at offset 4"});
  testing::expect_error([] { base64_decode("Z"); }, {"not base64", "whole number of bytes"});
  testing::expect_error([] { base64_decode("Zg==Zg"); }, {"unexpected character at offset 4"});
  testing::expect_error([] { base64_decode("Zm9v="); }, {"whole number of bytes"});
  testing::expect_error([] { base64_decode("data:image/png,Zm9v"); }, {"a data URL must be base64"});
}

}  // namespace
}  // namespace atman::serve
