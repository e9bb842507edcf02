// End-to-end tests of sharded runs (docs/distributed.md): the real binary as
// several ranks on loopback (by hand, --processes, Debian's torchrun), across
// two network namespaces joined by a veth pair, and every fault of the group.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <sys/socket.h>

#include "test_util.h"

namespace atman {
namespace {

using testing::read_file;
using testing::run_atman;
using testing::RunResult;
using testing::TempDir;
using testing::test_model;
using testing::write_file;
using Clock = std::chrono::steady_clock;

int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

// One process started in the background: its stdout and stderr go to files.
class Proc {
 public:
  Proc(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env, const std::string& stem)
      : out_(stem + ".out"), err_(stem + ".err") {
    pid_ = fork();
    if (pid_ == 0) {
      const int o = open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int e = open(err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(o, 1);
      dup2(e, 2);
      const int in = open("/dev/null", O_RDONLY);
      dup2(in, 0);
      for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
      std::vector<char*> args;
      for (const std::string& s : argv) args.push_back(const_cast<char*>(s.c_str()));
      args.push_back(nullptr);
      execvp(args[0], args.data());
      _exit(127);
    }
  }
  ~Proc() {
    if (!finished_) {
      kill(pid_, SIGKILL);
      wait(5.0);
    }
  }
  // Exit code (128 + signal when killed), or -1 when still running after `seconds`.
  int wait(double seconds) {
    if (finished_) return code_;
    const auto end = Clock::now() + std::chrono::duration<double>(seconds);
    while (true) {
      int status = 0;
      const pid_t got = waitpid(pid_, &status, WNOHANG);
      if (got == pid_) {
        finished_ = true;
        code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return code_;
      }
      if (Clock::now() > end) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  void signal(int sig) { kill(pid_, sig); }
  std::string out() const { return read_file(out_); }
  std::string err() const { return read_file(err_); }

 private:
  pid_t pid_ = -1;
  std::string out_, err_;
  bool finished_ = false;
  int code_ = -1;
};

std::vector<std::string> with_binary(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {ATMAN_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

// `ranks` ranks started by hand (--distributed flags) on loopback; returns their results.
std::vector<RunResult> run_ranks(const TempDir& tmp, const std::vector<std::vector<std::string>>& per_rank_args,
                                 double timeout = 30.0, const std::string& tag = "rank") {
  const int port = free_port();
  const int n = static_cast<int>(per_rank_args.size());
  std::vector<std::unique_ptr<Proc>> procs;
  for (int r = 0; r < n; ++r) {
    std::vector<std::string> args = per_rank_args[r];
    const std::vector<std::string> extra = {"--distributed", "--rank", std::to_string(r), "--world-size",
                                            std::to_string(n), "--master-port", std::to_string(port), "--timeout",
                                            "20"};
    args.insert(args.end(), extra.begin(), extra.end());
    procs.push_back(std::make_unique<Proc>(with_binary(args), std::map<std::string, std::string>{},
                                           tmp.path(tag + std::to_string(r))));
  }
  std::vector<RunResult> out(n);
  for (int r = 0; r < n; ++r) {
    out[r].exit_code = procs[r]->wait(timeout);
    out[r].out = procs[r]->out();
    out[r].err = procs[r]->err();
  }
  return out;
}

nlohmann::json without_stats(const std::string& path) {
  nlohmann::json j = nlohmann::json::parse(read_file(path));
  j.erase("stats");
  return j;
}

std::string write_image(const TempDir& tmp) {
  cv::Mat bgr(96, 96, CV_8UC3, cv::Scalar(130, 120, 110));
  cv::circle(bgr, cv::Point(30, 40), 14, cv::Scalar(40, 40, 220), cv::FILLED);
  cv::rectangle(bgr, cv::Rect(60, 55, 22, 22), cv::Scalar(60, 180, 40), cv::FILLED);
  const std::string path = tmp.path("scene.png");
  cv::imwrite(path, bgr);
  return path;
}

std::vector<std::string> text_args(const std::string& json, const std::string& kappa) {
  return {"explain", "--model", test_model("text_only.pt"), "--prompt",
          "Amir lives in Zurich. Umar likes soup. Question: What does Umar like? Answer:", "--target", " soup",
          "--conceptual-threshold", kappa, "--threads", "1", "--batch-size", "3", "--quiet", "--json", json};
}

std::vector<std::string> image_args(const std::string& image, const std::string& json, const std::string& kappa) {
  return {"explain", "--model", test_model("image_text.pt"), "--image", image, "--question",
          "What color is the circle?", "--target", " red", "--conceptual-threshold", kappa, "--threads", "1",
          "--batch-size", "4", "--quiet", "--json", json};
}

// explain's JSON from `ranks` ranks equals one process's (stats aside), and
// the stats name the group.
void expect_sharded_explain_equal(const std::vector<std::string>& one, const std::string& one_json,
                                  const std::vector<std::string>& sharded, const std::string& sharded_json, int ranks,
                                  const TempDir& tmp) {
  const RunResult single = run_atman(one);
  ASSERT_EQ(single.exit_code, 0) << single.err;
  std::vector<std::vector<std::string>> per_rank(ranks, sharded);
  const std::vector<RunResult> results = run_ranks(tmp, per_rank);
  for (int r = 0; r < ranks; ++r) ASSERT_EQ(results[r].exit_code, 0) << "rank " << r << ": " << results[r].err;
  EXPECT_EQ(without_stats(sharded_json), without_stats(one_json));  // bit-identical numbers
  const nlohmann::json stats = nlohmann::json::parse(read_file(sharded_json))["stats"];
  EXPECT_EQ(stats["world_size"], ranks);
  EXPECT_EQ(stats["rank_seconds"].size(), static_cast<size_t>(ranks));
  EXPECT_EQ(stats["forward_passes"], nlohmann::json::parse(read_file(one_json))["stats"]["forward_passes"]);
}

TEST(E2eDistributedTest, ExplainImageTextTwoRanksEqualsOneProcess) {
  TempDir tmp;
  const std::string image = write_image(tmp);
  for (const std::string kappa : {"off", "0.6"}) {
    SCOPED_TRACE("kappa " + kappa);
    expect_sharded_explain_equal(image_args(image, tmp.path("one.json"), kappa), tmp.path("one.json"),
                                 image_args(image, tmp.path("two.json"), kappa), tmp.path("two.json"), 2, tmp);
  }
}

TEST(E2eDistributedTest, ExplainTextThreeRanksEqualsOneProcess) {
  TempDir tmp;
  for (const std::string kappa : {"off", "0.6"}) {
    SCOPED_TRACE("kappa " + kappa);
    expect_sharded_explain_equal(text_args(tmp.path("one.json"), kappa), tmp.path("one.json"),
                                 text_args(tmp.path("three.json"), kappa), tmp.path("three.json"), 3, tmp);
  }
}

TEST(E2eDistributedTest, ExplainProcessesShortcutImageText) {
  TempDir tmp;
  const std::string image = write_image(tmp);
  const RunResult single = run_atman(image_args(image, tmp.path("one.json"), "0.6"));
  ASSERT_EQ(single.exit_code, 0) << single.err;
  std::vector<std::string> args = image_args(image, tmp.path("three.json"), "0.6");
  args.insert(args.end(), {"--processes", "3"});
  const RunResult r = run_atman(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(without_stats(tmp.path("three.json")), without_stats(tmp.path("one.json")));
  EXPECT_EQ(nlohmann::json::parse(read_file(tmp.path("three.json")))["stats"]["world_size"], 3);
}

// Debian's launcher (python3-torch): it hosts the store, the ranks are its clients.
TEST(E2eDistributedTest, ExplainUnderTorchrun) {
  if (std::system("/usr/bin/python3 -c 'import torch.distributed.run' >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "torch.distributed.run is not importable by /usr/bin/python3";
  }
  TempDir tmp;
  const RunResult single = run_atman(text_args(tmp.path("one.json"), "0.6"));
  ASSERT_EQ(single.exit_code, 0) << single.err;
  std::vector<std::string> argv = {"/usr/bin/python3", "-m", "torch.distributed.run", "--nproc_per_node", "2",
                                   "--master_port", std::to_string(free_port()), "--no_python", "--redirects",
                                   "9:1", "--tee", "9:1", ATMAN_BINARY};
  for (const std::string& a : text_args(tmp.path("torchrun.json"), "0.6")) argv.push_back(a);
  Proc launcher(argv, {}, tmp.path("torchrun"));
  ASSERT_EQ(launcher.wait(120.0), 0) << launcher.err() << launcher.out();
  EXPECT_EQ(without_stats(tmp.path("torchrun.json")), without_stats(tmp.path("one.json")));
  EXPECT_EQ(nlohmann::json::parse(read_file(tmp.path("torchrun.json")))["stats"]["world_size"], 2);
}

// ---- eval and accuracy --------------------------------------------------------------

std::string write_facts(const TempDir& tmp, int items) {
  namespace fs = std::filesystem;
  const fs::path root = tmp.path("heldout");
  fs::create_directories(root / "facts_qa");
  const char* names[] = {"Amir", "Umar", "Dora", "Vera", "Nina", "Hugo"};
  const char* foods[] = {"soup", "fish", "salad", "rice", "bread", "cake"};
  std::string text;
  for (int i = 0; i < items; ++i) {
    const std::string a = names[i % 6], b = names[(i + 1) % 6], fa = foods[i % 6], fb = foods[(i + 2) % 6];
    const std::string context = a + " likes " + fa + ". " + b + " likes " + fb + ".";
    const std::string prompt = context + " Question: What does " + b + " like? Answer:";
    const size_t begin = a.size() + 7 + fa.size() + 2;
    text += nlohmann::json{{"id", "facts-" + std::to_string(i)}, {"task", "facts_qa"}, {"prompt", prompt},
                           {"answer", fb}, {"target", " " + fb},
                           {"evidence_span", {begin, context.size()}}}
                .dump() +
            "\n";
  }
  write_file((root / "facts_qa" / "items.jsonl").string(), text);
  return root.string();
}

nlohmann::json metric_fields(const std::string& path) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& row : nlohmann::json::parse(read_file(path))) {
    out.push_back({row["task"], row["method"], row["setting"], row["items"], row["errors"], row["precision"],
                   row["recall"], row["average_precision"], row["pointing"], row["accuracy"]});
  }
  return out;
}

std::vector<std::string> eval_args(const std::string& data, const std::string& out) {
  return {"eval", "--model", test_model("text_only.pt"), "--data", data, "--out", out, "--methods", "atman,ixg",
          "--threads", "1", "--batch-size", "4", "--no-plots", "--examples", "1", "--quiet"};
}

// Every row once: the keys of rows.jsonl.
std::multiset<std::string> row_keys(const std::string& path) {
  std::multiset<std::string> keys;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception&) {
      continue;  // a line being written
    }
    keys.insert(j["task"].get<std::string>() + "/" + j["item"].get<std::string>() + "/" +
                j["method"].get<std::string>() + "/" + j["setting"].get<std::string>());
  }
  return keys;
}

TEST(E2eDistributedTest, EvalTwoRanksKilledRankResumesToOneProcessSummary) {
  TempDir tmp;
  const std::string data = write_facts(tmp, 24);
  const RunResult single = run_atman(eval_args(data, tmp.path("one")));
  ASSERT_EQ(single.exit_code, 0) << single.err;
  const auto expected = metric_fields(tmp.path("one/summary.json"));
  const std::multiset<std::string> expected_keys = row_keys(tmp.path("one/rows.jsonl"));
  ASSERT_EQ(expected_keys.size(), 48u);

  // 2 ranks straight through.
  {
    const std::vector<RunResult> r = run_ranks(tmp, {eval_args(data, tmp.path("two")), eval_args(data, tmp.path("two"))});
    ASSERT_EQ(r[0].exit_code, 0) << r[0].err;
    ASSERT_EQ(r[1].exit_code, 0) << r[1].err;
    EXPECT_EQ(metric_fields(tmp.path("two/summary.json")), expected);
    EXPECT_EQ(row_keys(tmp.path("two/rows.jsonl")), expected_keys);
    EXPECT_TRUE(std::filesystem::exists(tmp.path("two/examples/facts_qa/facts-0.atman.json")));
  }

  // Rank 1 killed (SIGKILL) mid-run: rank 0 ends within the timeout naming it; a rerun resumes.
  const std::string out = tmp.path("killed");
  const int port = free_port();
  auto start = [&](int rank, const std::string& stem) {
    std::vector<std::string> args = eval_args(data, out);
    for (const std::string& a : {std::string("--distributed"), std::string("--rank"), std::to_string(rank),
                                 std::string("--world-size"), std::string("2"), std::string("--master-port"),
                                 std::to_string(port), std::string("--timeout"), std::string("3")}) {
      args.push_back(a);
    }
    return std::make_unique<Proc>(with_binary(args), std::map<std::string, std::string>{}, tmp.path(stem));
  };
  auto rank0 = start(0, "k0");
  auto rank1 = start(1, "k1");
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < deadline && row_keys(out + "/rows.jsonl").empty()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_GE(row_keys(out + "/rows.jsonl").size(), 1u) << rank0->err() << rank1->err();
  // Frozen first, so that it cannot finish its share between the check and the kill:
  // rank 0 then cannot complete the run, whatever the machine's speed.
  rank1->signal(SIGSTOP);
  ASSERT_EQ(rank1->wait(0.0), -1) << "rank 1 ended before it could be stopped: the run is too short for this test";
  rank1->signal(SIGKILL);
  const auto killed_at = Clock::now();
  const int code = rank0->wait(30.0);
  const double took = std::chrono::duration<double>(Clock::now() - killed_at).count();
  EXPECT_EQ(code, 1) << rank0->err();
  EXPECT_LT(took, 3.0 + 6.0);
  EXPECT_NE(rank0->err().find("rank 1 stopped responding"), std::string::npos) << rank0->err();
  // Rows in flight when the kill lands may still arrive; what matters is that
  // no summary claims a finished run and that the rerun below completes it.
  const size_t kept = row_keys(out + "/rows.jsonl").size();
  EXPECT_LE(kept, 48u);
  EXPECT_FALSE(std::filesystem::exists(out + "/summary.json"));

  const std::vector<RunResult> again = run_ranks(tmp, {eval_args(data, out), eval_args(data, out), eval_args(data, out)},
                                                 60.0, "again");
  for (int r = 0; r < 3; ++r) ASSERT_EQ(again[r].exit_code, 0) << again[r].err;
  EXPECT_EQ(row_keys(out + "/rows.jsonl"), expected_keys);  // nothing lost, nothing twice
  EXPECT_EQ(metric_fields(out + "/summary.json"), expected);
}

TEST(E2eDistributedTest, AccuracyTwoRanksEqualsOneProcess) {
  TempDir tmp;
  const std::string data = write_facts(tmp, 7);
  const std::vector<std::string> args = {"accuracy", "--model", test_model("text_only.pt"), "--data", data,
                                         "--threads", "1", "--quiet"};
  std::vector<std::string> one = args, two = args;
  one.insert(one.end(), {"--json", tmp.path("one.json")});
  two.insert(two.end(), {"--json", tmp.path("two.json"), "--processes", "2"});
  const RunResult a = run_atman(one);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  const RunResult b = run_atman(two);
  ASSERT_EQ(b.exit_code, 0) << b.err;
  nlohmann::json ja = nlohmann::json::parse(read_file(tmp.path("one.json")));
  nlohmann::json jb = nlohmann::json::parse(read_file(tmp.path("two.json")));
  EXPECT_EQ(jb["world_size"], 2);
  EXPECT_EQ(ja["tasks"], jb["tasks"]);
  EXPECT_EQ(ja["first_errors"], jb["first_errors"]);
  EXPECT_EQ(a.out, b.out);
}

// ---- faults ---------------------------------------------------------------------------

RunResult run_with_env(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
                       const TempDir& tmp, double timeout = 30.0) {
  Proc p(with_binary(args), env, tmp.path("env"));
  RunResult r;
  r.exit_code = p.wait(timeout);
  r.out = p.out();
  r.err = p.err();
  return r;
}

void expect_one_line(const RunResult& r, int code, const std::string& part) {
  EXPECT_EQ(r.exit_code, code) << r.err;
  const std::vector<std::string> lines = r.err_lines();
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_NE(lines[0].find("atman: error: "), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find(part), std::string::npos) << lines[0];
}

TEST(E2eDistributedFaultsTest, InconsistentEnvironments) {
  TempDir tmp;
  const std::vector<std::string> args = text_args(tmp.path("x.json"), "off");
  expect_one_line(run_with_env(args, {{"RANK", "0"}, {"WORLD_SIZE", "0"}}, tmp), 2, "WORLD_SIZE must be >= 1, got 0");
  expect_one_line(run_with_env(args, {{"RANK", "2"}, {"WORLD_SIZE", "2"}}, tmp), 2,
                  "RANK 2 is outside WORLD_SIZE 2");
  expect_one_line(run_with_env(args, {{"RANK", "x"}, {"WORLD_SIZE", "2"}}, tmp), 2, "RANK must be an integer");
  expect_one_line(run_with_env(args, {{"RANK", "1"}}, tmp), 2, "RANK is set but WORLD_SIZE is not");
  std::vector<std::string> flags = args;
  flags.insert(flags.end(), {"--rank", "1"});
  expect_one_line(run_atman(flags), 2, "need --distributed");
  flags = args;
  flags.insert(flags.end(), {"--distributed", "--rank", "3", "--world-size", "2"});
  expect_one_line(run_atman(flags), 2, "RANK 3 is outside WORLD_SIZE 2");
  flags = args;
  flags.insert(flags.end(), {"--processes", "2", "--method", "ixg"});
  EXPECT_EQ(run_atman(flags).exit_code, 2);
}

TEST(E2eDistributedFaultsTest, UnreachableMasterAndMissingRank) {
  TempDir tmp;
  const std::string port = std::to_string(free_port());
  // Rank 1 with nobody hosting the store.
  std::vector<std::string> args = text_args(tmp.path("x.json"), "off");
  args.insert(args.end(), {"--distributed", "--rank", "1", "--world-size", "2", "--master-port", port, "--timeout", "2"});
  const auto t0 = Clock::now();
  const RunResult r = run_atman(args);
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 15.0);
  expect_one_line(r, 1, "cannot reach the master 127.0.0.1:" + port);
  // Rank 0 alone in a group of 2: rank 1 never joins.
  args = text_args(tmp.path("x.json"), "off");
  args.insert(args.end(), {"--distributed", "--rank", "0", "--world-size", "2", "--master-port", port, "--timeout", "2"});
  const RunResult r0 = run_atman(args);
  expect_one_line(r0, 1, "rank 1 did not join within 2 s");
  EXPECT_FALSE(std::filesystem::exists(tmp.path("x.json")));
}

TEST(E2eDistributedFaultsTest, RanksGivenDifferentInputsOrModels) {
  TempDir tmp;
  std::vector<std::string> a = text_args(tmp.path("x.json"), "off");
  std::vector<std::string> b = a;
  b[6] = " fish";  // --target
  std::vector<RunResult> r = run_ranks(tmp, {a, b});
  for (int k = 0; k < 2; ++k) {
    expect_one_line(r[k], 1, "ranks disagree on the model and the input: rank 1 has");
  }
  EXPECT_FALSE(std::filesystem::exists(tmp.path("x.json")));
  b = a;
  b[2] = test_model("shifted.pt");
  r = run_ranks(tmp, {a, b});
  EXPECT_EQ(r[0].exit_code, 1);
  EXPECT_NE(r[0].err.find("rank 1"), std::string::npos) << r[0].err;
}

TEST(E2eDistributedFaultsTest, RankThatFailsOrHangs) {
  TempDir tmp;
  // A rank that fails on its own: the others name it and its line.
  std::vector<std::string> a = text_args(tmp.path("x.json"), "off");
  std::vector<std::string> b = a;
  b[2] = tmp.path("missing.pt");
  std::vector<RunResult> r = run_ranks(tmp, {a, b});
  EXPECT_EQ(r[1].exit_code, 1);
  expect_one_line(r[0], 1, "rank 1 failed: ");
  EXPECT_NE(r[0].err.find("missing.pt"), std::string::npos) << r[0].err;

  // A rank that hangs (SIGSTOP) in an eval: the other ends within the timeout.
  const std::string data = write_facts(tmp, 12);
  const std::string out = tmp.path("hang");
  const int port = free_port();
  std::vector<std::unique_ptr<Proc>> procs;
  for (int rank = 0; rank < 2; ++rank) {
    std::vector<std::string> args = eval_args(data, out);
    for (const std::string& x : {std::string("--distributed"), std::string("--rank"), std::to_string(rank),
                                 std::string("--world-size"), std::string("2"), std::string("--master-port"),
                                 std::to_string(port), std::string("--timeout"), std::string("2")}) {
      args.push_back(x);
    }
    procs.push_back(std::make_unique<Proc>(with_binary(args), std::map<std::string, std::string>{},
                                           tmp.path("hang" + std::to_string(rank))));
  }
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < deadline && row_keys(out + "/rows.jsonl").size() < 4) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  procs[0]->signal(SIGSTOP);  // rank 0 (the store's host) hangs: rank 1 must still end
  const auto stopped_at = Clock::now();
  // A stopped rank 0 cannot gather the rows, so the run cannot succeed on any machine.
  ASSERT_EQ(procs[0]->wait(0.0), -1) << "rank 0 ended before it could be stopped: the run is too short for this test";
  const int code = procs[1]->wait(30.0);
  const double took = std::chrono::duration<double>(Clock::now() - stopped_at).count();
  procs[0]->signal(SIGKILL);
  EXPECT_EQ(code, 1) << procs[1]->err();
  EXPECT_LT(took, 2.0 + 6.0);
  const std::string err = procs[1]->err();
  EXPECT_TRUE(err.find("rank 0 stopped responding") != std::string::npos ||
              err.find("did not answer") != std::string::npos)
      << err;
}

// ---- two hosts: network namespaces joined by a veth pair --------------------------------

class NetnsPair {
 public:
  NetnsPair() {
    const std::string id = std::to_string(getpid() % 100000);
    a_ = "atman_a" + id;
    b_ = "atman_b" + id;
    const std::string va = "atva" + id, vb = "atvb" + id;
    const std::string script = "ip netns add " + a_ + " && ip netns add " + b_ + " && ip link add " + va +
                               " type veth peer name " + vb + " && ip link set " + va + " netns " + a_ +
                               " && ip link set " + vb + " netns " + b_ + " && ip -n " + a_ + " addr add 10.231.0.1/24 dev " +
                               va + " && ip -n " + b_ + " addr add 10.231.0.2/24 dev " + vb + " && ip -n " + a_ +
                               " link set " + va + " up && ip -n " + b_ + " link set " + vb + " up && ip -n " + a_ +
                               " link set lo up && ip -n " + b_ + " link set lo up";
    // The first failing command's message, for the skip line.
    FILE* pipe = popen(("(" + script + ") 2>&1 >/dev/null").c_str(), "r");
    char line[256] = "";
    if (pipe != nullptr) {
      if (std::fgets(line, sizeof line, pipe) == nullptr) line[0] = '\0';
      ok_ = pclose(pipe) == 0;
    }
    why_ = line;
    if (!why_.empty() && why_.back() == '\n') why_.pop_back();
  }
  ~NetnsPair() {
    std::system(("ip netns del " + a_ + " >/dev/null 2>&1; ip netns del " + b_ + " >/dev/null 2>&1").c_str());
  }
  bool ok() const { return ok_; }
  /// Why the namespaces could not be made (ip's first error line).
  const std::string& why() const { return why_; }
  const std::string& a() const { return a_; }
  const std::string& b() const { return b_; }

 private:
  std::string a_, b_, why_;
  bool ok_ = false;
};

TEST(E2eDistributedTest, TwoHostsInNetworkNamespaces) {
  NetnsPair hosts;
  // Namespaces need root with CAP_SYS_ADMIN, iproute2 and a writable /run/netns: a chroot
  // (../shared/tools/fresh_machine.sh's fresh root) or an unprivileged container has none
  // (docs/distributed.md, "Tests").
  if (!hosts.ok()) {
    GTEST_SKIP() << "no network namespaces here (ip: " << (hosts.why().empty() ? "not found" : hosts.why())
                 << "): the two-host run is not tested on this machine; it needs root with CAP_SYS_ADMIN and iproute2, "
                    "which a chroot or an unprivileged container lacks";
  }
  TempDir tmp;
  const std::string image = write_image(tmp);
  const RunResult single = run_atman(image_args(image, tmp.path("one.json"), "0.6"));
  ASSERT_EQ(single.exit_code, 0) << single.err;
  std::vector<std::unique_ptr<Proc>> procs;
  for (int rank = 0; rank < 2; ++rank) {
    std::vector<std::string> argv = {"ip", "netns", "exec", rank == 0 ? hosts.a() : hosts.b(), ATMAN_BINARY};
    for (const std::string& x : image_args(image, tmp.path(rank == 0 ? "two.json" : "unused.json"), "0.6")) {
      argv.push_back(x);
    }
    for (const std::string& x : {std::string("--distributed"), std::string("--rank"), std::to_string(rank),
                                 std::string("--world-size"), std::string("2"), std::string("--master-addr"),
                                 std::string("10.231.0.1"), std::string("--master-port"), std::string("29517"),
                                 std::string("--timeout"), std::string("20")}) {
      argv.push_back(x);
    }
    procs.push_back(std::make_unique<Proc>(argv, std::map<std::string, std::string>{},
                                           tmp.path("host" + std::to_string(rank))));
  }
  ASSERT_EQ(procs[0]->wait(60.0), 0) << procs[0]->err();
  ASSERT_EQ(procs[1]->wait(60.0), 0) << procs[1]->err();
  EXPECT_EQ(without_stats(tmp.path("two.json")), without_stats(tmp.path("one.json")));
  EXPECT_FALSE(std::filesystem::exists(tmp.path("unused.json")));  // rank 1 writes nothing
}

}  // namespace
}  // namespace atman
