// The helpers of test_util.h (and a check of them).
#include "test_util.h"

#include <sys/wait.h>
#include <unistd.h>

#include <c10/util/Exception.h>

#include <random>
#include <sstream>

namespace atman::testing {

TempDir::TempDir() {
  std::random_device rd;
  dir_ = std::filesystem::temp_directory_path() /
         ("atman_test_" + std::to_string(getpid()) + "_" + std::to_string(rd()));
  std::filesystem::create_directories(dir_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::permissions(dir_, std::filesystem::perms::owner_all, std::filesystem::perm_options::add, ec);
  std::filesystem::remove_all(dir_, ec);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

std::vector<std::string> RunResult::err_lines() const {
  std::vector<std::string> lines;
  std::stringstream ss(err);
  for (std::string line; std::getline(ss, line);) lines.push_back(line);
  return lines;
}

namespace {
std::string shell_quote(const std::string& arg) {
  std::string out = "'";
  for (char c : arg) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}
}  // namespace

RunResult run_atman(const std::vector<std::string>& args) {
  TempDir tmp;
  std::string cmd = shell_quote(ATMAN_BINARY);
  for (const auto& a : args) cmd += " " + shell_quote(a);
  cmd += " >" + shell_quote(tmp.path("out")) + " 2>" + shell_quote(tmp.path("err")) + " </dev/null";
  const int status = std::system(cmd.c_str());
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_file(tmp.path("out"));
  r.err = read_file(tmp.path("err"));
  return r;
}

void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no exception; expected one mentioning " << (parts.empty() ? "" : parts[0]);
  } catch (const c10::Error& e) {
    const std::string what = e.what_without_backtrace();
    for (const auto& p : parts) EXPECT_NE(what.find(p), std::string::npos) << "message: " << what << "\nmissing: " << p;
  } catch (const std::exception& e) {
    const std::string what = e.what();
    for (const auto& p : parts) EXPECT_NE(what.find(p), std::string::npos) << "message: " << what << "\nmissing: " << p;
    EXPECT_EQ(what.find('\n'), std::string::npos) << "message is not one line: " << what;
  }
}

TEST(UtilTest, RunAtmanCapturesExitCodeAndStreams) {
  RunResult r = run_atman({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("atman"), std::string::npos);
}

}  // namespace atman::testing
