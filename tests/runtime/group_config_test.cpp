// torchrun's environment read into a GroupConfig (runtime/group_config.h),
// through a lookup over hand-made variables.
#include "atman/runtime/group_config.h"

#include <map>
#include <string>

#include <gtest/gtest.h>

#include "test_util.h"

namespace atman {
namespace {

using testing::expect_error;
using Env = std::map<std::string, std::string>;

std::optional<GroupConfig> from(const Env& env) {
  return group_config_from_environment([&](const char* name) -> const char* {
    const auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

TEST(GroupConfigTest, NeitherRankNorWorldSizeIsNoGroup) {
  EXPECT_FALSE(from({}).has_value());
  EXPECT_FALSE(from({{"MASTER_ADDR", "10.0.0.1"}, {"LOCAL_RANK", "0"}}).has_value());
}

TEST(GroupConfigTest, TorchrunsVariables) {
  const auto c = from({{"RANK", "3"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "1"}, {"LOCAL_WORLD_SIZE", "2"},
                       {"MASTER_ADDR", "10.0.0.1"}, {"MASTER_PORT", "29501"},
                       {"TORCHELASTIC_USE_AGENT_STORE", "True"}, {"TORCHELASTIC_RESTART_COUNT", "2"}});
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->rank, 3);
  EXPECT_EQ(c->world_size, 4);
  EXPECT_EQ(c->local_rank, 1);
  EXPECT_EQ(c->local_world_size, 2);
  EXPECT_EQ(c->master_addr, "10.0.0.1");
  EXPECT_EQ(c->master_port, 29501);
  EXPECT_TRUE(c->agent_store);
  EXPECT_EQ(c->run_id, "2");
  EXPECT_EQ(c->timeout_seconds, kDefaultGroupTimeoutSeconds);
  EXPECT_EQ(c->describe(), "rank 3 of 4 (local 1 of 2), store 10.0.0.1:29501 (hosted by the launcher)");
}

TEST(GroupConfigTest, LocalValuesDefaultToTheGlobalOnes) {
  const auto c = from({{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"TORCHELASTIC_USE_AGENT_STORE", "False"}});
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->local_rank, 1);
  EXPECT_EQ(c->local_world_size, 2);
  EXPECT_EQ(c->master_addr, "127.0.0.1");
  EXPECT_EQ(c->master_port, 29500);
  EXPECT_FALSE(c->agent_store);
  EXPECT_EQ(c->run_id, "0");
  EXPECT_EQ(c->describe(), "rank 1 of 2 (local 1 of 2), store 127.0.0.1:29500 (hosted by rank 0)");
}

TEST(GroupConfigTest, BadValuesAreOneLineNamingTheVariable) {
  expect_error([] { from({{"RANK", "0"}}); }, {"RANK is set but WORLD_SIZE is not: set both (torchrun does) or neither"});
  expect_error([] { from({{"WORLD_SIZE", "2"}}); }, {"WORLD_SIZE is set but RANK is not"});
  expect_error([] { from({{"RANK", "one"}, {"WORLD_SIZE", "2"}}); }, {"RANK must be an integer, got \"one\""});
  expect_error([] { from({{"RANK", "1x"}, {"WORLD_SIZE", "2"}}); }, {"RANK must be an integer, got \"1x\""});
  expect_error([] { from({{"RANK", ""}, {"WORLD_SIZE", "2"}}); }, {"RANK must be an integer, got \"\""});
  expect_error([] { from({{"RANK", "2"}, {"WORLD_SIZE", "2"}}); }, {"RANK 2 is outside WORLD_SIZE 2 (ranks are 0..1)"});
  expect_error([] { from({{"RANK", "0"}, {"WORLD_SIZE", "0"}}); }, {"WORLD_SIZE must be >= 1, got 0"});
  expect_error([] { from({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"LOCAL_WORLD_SIZE", "3"}}); },
               {"LOCAL_WORLD_SIZE must be in [1, WORLD_SIZE 2], got 3"});
  expect_error([] { from({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"LOCAL_RANK", "2"}}); },
               {"LOCAL_RANK 2 is outside LOCAL_WORLD_SIZE 2"});
  expect_error([] { from({{"RANK", "0"}, {"WORLD_SIZE", "1"}, {"MASTER_PORT", "70000"}}); },
               {"MASTER_PORT must be in [1, 65535], got 70000"});
  expect_error([] { from({{"RANK", "0"}, {"WORLD_SIZE", "1"}, {"MASTER_ADDR", ""}}); }, {"MASTER_ADDR is empty"});
}

TEST(GroupConfigTest, TheTimeoutIsChecked) {
  GroupConfig c;
  c.timeout_seconds = 0.0;
  expect_error([&] { check_group_config(c); }, {"the timeout must be in (0, 86400] seconds, got 0"});
  c.timeout_seconds = 86401.0;
  expect_error([&] { check_group_config(c); }, {"the timeout must be in (0, 86400] seconds"});
  c.timeout_seconds = 1.5;
  check_group_config(c);
}

}  // namespace
}  // namespace atman
