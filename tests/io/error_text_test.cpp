// The pieces of one-line error messages (io/error_text.h) on hand-made inputs.
#include "atman/io/error_text.h"

#include <string>

#include <gtest/gtest.h>

namespace atman {
namespace {

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
