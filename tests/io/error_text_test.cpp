// The pieces of one-line error messages (io/error_text.h) on hand-made inputs.
#include "atman/io/error_text.h"

#include <string>

#include <gtest/gtest.h>

namespace atman {
namespace {

TEST(ErrorTextTest, FirstLineCutsAtTheFirstNewline) {
  EXPECT_EQ(first_line("one\ntwo\nthree"), "one");
  EXPECT_EQ(first_line("no newline"), "no newline");
  EXPECT_EQ(first_line(""), "");
  EXPECT_EQ(first_line("\nstarts with one"), "");
  EXPECT_EQ(first_line("carriage\r\nreturn"), "carriage\r");  // only '\n' ends a line
}

TEST(ErrorTextTest, FirstLineCutsLongLinesWithAnEllipsis) {
  EXPECT_EQ(first_line(std::string(200, 'x')), std::string(200, 'x'));
  EXPECT_EQ(first_line(std::string(201, 'x')), std::string(200, 'x') + "...");
  EXPECT_EQ(first_line("abcdef\nghi", 3), "abc...");
  EXPECT_EQ(first_line("abc\ndef", 3), "abc");
  EXPECT_EQ(first_line("abcd", 0), "...");
}

TEST(ErrorTextTest, DtypeNamesAreNumpyStyle) {
  EXPECT_EQ(dtype_name(at::kByte), "uint8");
  EXPECT_EQ(dtype_name(at::kChar), "int8");
  EXPECT_EQ(dtype_name(at::kShort), "int16");
  EXPECT_EQ(dtype_name(at::kInt), "int32");
  EXPECT_EQ(dtype_name(at::kLong), "int64");
  EXPECT_EQ(dtype_name(at::kHalf), "float16");
  EXPECT_EQ(dtype_name(at::kBFloat16), "bfloat16");
  EXPECT_EQ(dtype_name(at::kFloat), "float32");
  EXPECT_EQ(dtype_name(at::kDouble), "float64");
  EXPECT_EQ(dtype_name(at::kBool), "bool");
  // Others keep LibTorch's own name.
  EXPECT_EQ(dtype_name(at::kComplexFloat), "ComplexFloat");
}

}  // namespace
}  // namespace atman
