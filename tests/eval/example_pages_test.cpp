// Tests of `atman eval --examples`' pages (eval/example_pages.h): one page per
// item from its methods' JSON files, AtMan first, other items' files left out.

#include "eval/example_pages.h"

#include <string>

#include <gtest/gtest.h>

#include "atman/render/json_output.h"
#include "test_util.h"

namespace atman {
namespace {

using testing::grid_explanation;
using testing::read_file;
using testing::TempDir;
using testing::write_file;

TEST(EvalExamplePagesTest, OnePagePerItemWithEveryMethod) {
  TempDir dir;
  auto e = grid_explanation(2, 2, [](int r, int c) { return r + c; });
  for (const char* method : {"ixg", "atman", "rollout"}) {
    e.method = method;
    write_file(dir.file(std::string("shapes-1.") + method + ".json"), explanation_to_json(e));
  }
  e.method = "chefer";
  write_file(dir.file("shapes-10.chefer.json"), explanation_to_json(e));    // another item
  write_file(dir.file("shapes-1.ig.s2.json"), explanation_to_json(e));      // another setting
  write_example_page(dir.dir(), "shapes-1", testing::gray_image(20, 20), e);
  const std::string page = read_file(dir.file("shapes-1.html"));
  const size_t atman = page.find(">AtMan: R<"), rollout = page.find(">Attention rollout: R<"),
               ixg = page.find(">Input x Gradient: R<");
  ASSERT_NE(atman, std::string::npos);
  ASSERT_NE(ixg, std::string::npos);
  ASSERT_NE(rollout, std::string::npos);
  EXPECT_LT(atman, ixg);  // AtMan first, then by name: ixg, rollout
  EXPECT_LT(ixg, rollout);
  EXPECT_EQ(page.find("Chefer"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir.file("shapes-10.html")));
}

}  // namespace
}  // namespace atman
