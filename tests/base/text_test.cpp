// The text helpers every layer uses (base/text.h) on hand-made inputs.
#include "atman/base/text.h"

#include <stdexcept>
#include <string>
#include <vector>

#include <c10/util/Exception.h>
#include <gtest/gtest.h>

namespace atman {
namespace {

using Parts = std::vector<std::string>;

TEST(TextTest, FirstLineCutsAtTheFirstNewline) {
  EXPECT_EQ(first_line("one\ntwo\nthree"), "one");
  EXPECT_EQ(first_line("no newline"), "no newline");
  EXPECT_EQ(first_line(""), "");
  EXPECT_EQ(first_line("\nstarts with one"), "");
  EXPECT_EQ(first_line("carriage\r\nreturn"), "carriage\r");  // only '\n' ends a line
}

TEST(TextTest, FirstLineCutsLongLinesWithAnEllipsis) {
  EXPECT_EQ(first_line(std::string(200, 'x')), std::string(200, 'x'));
  EXPECT_EQ(first_line(std::string(201, 'x')), std::string(200, 'x') + "...");
  EXPECT_EQ(first_line("abcdef\nghi", 3), "abc...");
  EXPECT_EQ(first_line("abc\ndef", 3), "abc");
  EXPECT_EQ(first_line("abcd", 0), "...");
  EXPECT_EQ(first_line(std::string(500, 'x') + "\nmore", std::string::npos), std::string(500, 'x'));
}

TEST(TextTest, OneLineMessageDropsTheBacktraceOfC10Errors) {
  try {
    TORCH_CHECK(false, "the check failed\nsecond line");
    FAIL() << "TORCH_CHECK did not throw";
  } catch (const c10::Error& e) {
    // what() carries LibTorch's backtrace after the message; the line does not.
    EXPECT_EQ(one_line_message(e), "the check failed");
  }
  EXPECT_EQ(one_line_message(std::runtime_error("plain\ntail")), "plain");
  EXPECT_EQ(one_line_message(std::runtime_error(std::string(300, 'y'))), std::string(300, 'y'));  // uncut
}

TEST(TextTest, TrimmedRemovesTheBlanksAtBothEnds) {
  EXPECT_EQ(trimmed("  a b \t\r\n"), "a b");
  EXPECT_EQ(trimmed(" \t "), "");
  EXPECT_EQ(trimmed(""), "");
  EXPECT_EQ(trimmed("\tkept\t", " "), "\tkept\t");  // only the blanks asked for
  EXPECT_EQ(trimmed("  x  ", " "), "x");
}

TEST(TextTest, SplitKeepsEmptyPartsAndATrailingOne) {
  EXPECT_EQ(split("a,b,c", ','), (Parts{"a", "b", "c"}));
  EXPECT_EQ(split("a,,b", ','), (Parts{"a", "", "b"}));
  EXPECT_EQ(split("a,", ','), (Parts{"a", ""}));
  EXPECT_EQ(split(",", ','), (Parts{"", ""}));
  EXPECT_EQ(split("alone", ','), (Parts{"alone"}));
  EXPECT_EQ(split("", ','), Parts{});
}

}  // namespace
}  // namespace atman
