// End-to-end reliability tests of the real `atman` binary:
//  - every row of the table of hostile inputs in docs/reliability.md (between the
//    "hostile-inputs" markers) is run as written and must give exactly the
//    stderr line and exit code of that row;
//  - SIGINT/SIGTERM in the middle of a sweep leave the previous file or
//    none, never a partial one, and exit 130/143 with one line;
//  - --max-memory is honoured or the run refused before work starts;
//  - the same input, model, threads and flags give bit-identical JSON.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "atman/io/atomic_file.h"
#include "atman/runtime/interrupt.h"
#include "test_util.h"

extern char** environ;

namespace atman {
namespace {

using testing::read_file;
using testing::run_atman;
using testing::RunResult;
using testing::TempDir;
using testing::test_model;

// --- the table of docs/reliability.md --------------------------------------------

struct TableRow {
  std::string input;            // first cell
  std::string command;          // second cell, without backticks
  int exit_code = 0;
  std::string expected;         // fourth cell, without backticks; "(none)" for no output
};

std::string strip_ticks(std::string cell) {
  const auto first = cell.find_first_not_of(' ');
  const auto last = cell.find_last_not_of(' ');
  cell = first == std::string::npos ? "" : cell.substr(first, last - first + 1);
  if (cell.size() >= 2 && cell.front() == '`' && cell.back() == '`') cell = cell.substr(1, cell.size() - 2);
  return cell;
}

// Rows between <!-- hostile-inputs:begin --> and <!-- hostile-inputs:end -->;
// cells are split at '|' outside backticks.
std::vector<TableRow> readme_rows() {
  std::istringstream in(read_file(testing::source_path("docs/reliability.md")));
  std::vector<TableRow> rows;
  bool inside = false;
  for (std::string line; std::getline(in, line);) {
    if (line.find("<!-- hostile-inputs:begin") != std::string::npos) inside = true;
    if (line.find("<!-- hostile-inputs:end") != std::string::npos) inside = false;
    if (!inside || line.rfind("| ", 0) != 0 || line.rfind("|---", 0) == 0) continue;
    std::vector<std::string> cells;
    std::string cell;
    bool code = false;
    for (size_t i = 1; i < line.size(); ++i) {
      if (line[i] == '`') code = !code;
      if (line[i] == '|' && !code) {
        cells.push_back(cell);
        cell.clear();
      } else {
        cell += line[i];
      }
    }
    if (cells.size() != 4 || strip_ticks(cells[2]) == "exit") continue;  // the header row
    rows.push_back({strip_ticks(cells[0]), strip_ticks(cells[1]), std::stoi(strip_ticks(cells[2])),
                    strip_ticks(cells[3])});
  }
  return rows;
}

// Shell-like words: "double" (with \" and \\) and 'single' quotes, spaces between.
std::vector<std::string> split_words(const std::string& text) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == ' ') {
      if (in_word) words.push_back(word);
      word.clear();
      in_word = false;
    } else if (c == '"') {
      in_word = true;
      for (++i; i < text.size() && text[i] != '"'; ++i) {
        if (text[i] == '\\' && i + 1 < text.size()) ++i;
        word += text[i];
      }
    } else if (c == '\'') {
      in_word = true;
      for (++i; i < text.size() && text[i] != '\''; ++i) word += text[i];
    } else {
      in_word = true;
      word += c;
    }
  }
  if (in_word) words.push_back(word);
  return words;
}

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

// `pattern` with "{*}" matching any run of characters.
bool matches(const std::string& text, const std::string& pattern) {
  const size_t star = pattern.find("{*}");
  if (star == std::string::npos) return text == pattern;
  if (text.compare(0, star, pattern, 0, star) != 0) return false;
  const std::string rest = pattern.substr(star + 3);
  for (size_t at = star; at <= text.size(); ++at) {
    if (matches(text.substr(at), rest)) return true;
  }
  return false;
}

// The files the table's rows refer to as $T/...
void write_table_files(const TempDir& tmp) {
  cv::Mat bgr(120, 150, CV_8UC3, cv::Scalar(120, 120, 120));
  cv::circle(bgr, cv::Point(45, 50), 22, cv::Scalar(40, 40, 220), cv::FILLED);
  ASSERT_TRUE(cv::imwrite(tmp.path("shapes.png"), bgr));
  testing::write_file(tmp.path("empty.png"), "");
  testing::write_file(tmp.path("notes.png"), "just some text, not pixels");
  const std::string png = read_file(tmp.path("shapes.png"));
  testing::write_file(tmp.path("cut.png"), png.substr(0, png.size() / 2));
  std::vector<uchar> buf;
  cv::imencode(".jpg", bgr, buf);
  testing::write_file(tmp.path("cut.jpg"), std::string(buf.begin(), buf.begin() + buf.size() * 2 / 3));
  cv::imencode(".bmp", bgr, buf);
  testing::write_file(tmp.path("cut.bmp"), std::string(buf.begin(), buf.begin() + buf.size() / 2));
  cv::imencode(".webp", bgr, buf);
  testing::write_file(tmp.path("cut.webp"), std::string(buf.begin(), buf.begin() + buf.size() / 2));
  // A PNG of 73 bytes whose header claims 30000 x 30000 pixels (2.7 GB decoded).
  std::string huge = png;
  const unsigned char size[8] = {0, 0, 0x75, 0x30, 0, 0, 0x75, 0x30};
  for (int i = 0; i < 8; ++i) huge[16 + i] = static_cast<char>(size[i]);
  testing::write_file(tmp.path("huge.png"), huge);
  // A JPEG whose frame header claims 65000 x 65000 pixels.
  testing::write_file(tmp.path("huge.jpg"), std::string("\xff\xd8\xff\xc0\x00\x11\x08\xfd\xe8\xfd\xe8\x03"
                                                        "\x01\x22\x00\x02\x11\x01\x03\x11\x01\xff\xd9",
                                                        24));
  testing::write_file(tmp.path("damaged.png"), std::string("\x89PNG\r\n\x1a\n", 8));
  // `atman tokenize --jsonl`: a number on line 2 where a JSON string belongs.
  testing::write_file(tmp.path("numbers.jsonl"), "\"fine\"\n42\n");
  testing::write_file(tmp.path("scan.dcm"), std::string(128, '\0') + "DICM" + std::string(64, '\x02'));
  cv::Mat f(8, 8, CV_32FC3, cv::Scalar(0.2, 0.4, 0.6));
  cv::imencode(".exr", f, buf);
  testing::write_file(tmp.path("x.exr"), std::string(buf.begin(), buf.end()));
  // Accepted inputs: grayscale 16-bit PNG, RGBA TIFF, WebP, 16-bit PGM.
  cv::Mat gray16;
  cv::cvtColor(bgr, gray16, cv::COLOR_BGR2GRAY);
  gray16.convertTo(gray16, CV_16U, 257);
  ASSERT_TRUE(cv::imwrite(tmp.path("gray16.png"), gray16));
  ASSERT_TRUE(cv::imwrite(tmp.path("gray16.pgm"), gray16));
  cv::Mat bgra;
  cv::cvtColor(bgr, bgra, cv::COLOR_BGR2BGRA);
  ASSERT_TRUE(cv::imwrite(tmp.path("alpha.tiff"), bgra));
  ASSERT_TRUE(cv::imwrite(tmp.path("photo.webp"), bgr));
  std::filesystem::create_directories(tmp.path("folder"));
}

TEST(E2eHostileInputTest, EveryReadmeRowGivesItsExactLine) {
  if (std::getenv("OPENCV_IO_ENABLE_OPENEXR") != nullptr) GTEST_SKIP() << "OPENCV_IO_ENABLE_OPENEXR is set";
  const std::vector<TableRow> rows = readme_rows();
  ASSERT_GE(rows.size(), 40u) << "the table of docs/reliability.md was not found or lost rows";
  TempDir tmp;
  write_table_files(tmp);
  const std::string t = tmp.dir().string();
  const std::string m = ATMAN_TEST_MODELS;
  const std::string out = tmp.path("out.json");
  for (const TableRow& row : rows) {
    // Budgets in MB of resident memory: an ASan process is several times larger.
    if (testing::kUnderAddressSanitizer && row.input.rfind("memory:", 0) == 0) continue;
    SCOPED_TRACE(row.input + ": " + row.command);
    std::vector<std::string> args;
    for (std::string word : split_words(row.command)) {
      if (word == "$Q") {  // the usual question and target
        for (const char* a : {"--question", "What color is the circle?", "--target", " red"}) args.push_back(a);
        continue;
      }
      replace_all(word, "$NONUTF8", "caf\xe9 au lait");
      if (word.rfind("$Z", 0) == 0) word = std::string(std::stoul(word.substr(2)), 'z');  // $Zn: n letters z
      replace_all(word, "$M", m);
      replace_all(word, "$T", t);
      args.push_back(word);
    }
    const RunResult r = run_atman(args);
    EXPECT_EQ(r.exit_code, row.exit_code) << r.err;
    std::string expected = row.expected;
    replace_all(expected, "$M", m);
    replace_all(expected, "$T", t);
    if (expected == "(none)") {
      EXPECT_EQ(r.err, "");
    } else {
      const auto lines = r.err_lines();
      ASSERT_EQ(lines.size(), 1u) << r.err;
      EXPECT_TRUE(matches(lines[0], expected)) << "got:      " << lines[0] << "\nexpected: " << expected;
    }
    if (row.exit_code != 0) {
      EXPECT_FALSE(std::filesystem::exists(out)) << "output written despite the error";
    }
    std::filesystem::remove(out);
    for (const auto& entry : std::filesystem::directory_iterator(tmp.dir())) {
      EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos) << entry.path();
    }
  }
}

// --- signals -------------------------------------------------------------------------

struct Spawned {
  pid_t pid = -1;
  std::string err_path;
};

// Starts the binary with stdout/stderr going to files in `tmp`.
Spawned spawn_atman(const TempDir& tmp, const std::vector<std::string>& args) {
  Spawned s;
  s.err_path = tmp.path("spawn.err");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, tmp.path("spawn.out").c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, s.err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<std::string> all = {ATMAN_BINARY};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  EXPECT_EQ(posix_spawn(&s.pid, ATMAN_BINARY, &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  return s;
}

// Waits until `text` appears in the file (true) or the process ended / 120 s passed (false).
bool wait_for_text(const Spawned& s, const std::string& text) {
  for (int i = 0; i < 1200; ++i) {
    if (read_file(s.err_path).find(text) != std::string::npos) return true;
    int status = 0;
    if (waitpid(s.pid, &status, WNOHANG) == s.pid) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

int wait_exit(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string last_line(const std::string& text) {
  std::string t = text;
  while (!t.empty() && t.back() == '\n') t.pop_back();
  const auto nl = t.rfind('\n');
  return nl == std::string::npos ? t : t.substr(nl + 1);
}

// A sweep of ~1000 passes over ~1000 positions on one thread: about 20 s
// here (the test interrupts it after a second).
std::vector<std::string> slow_explain_args(const std::string& json, const std::string& html) {
  std::string prompt;
  for (int i = 0; i < 100; ++i) prompt += "Alice lives in Paris. ";
  return {"explain", "--model", test_model("long_context.pt"), "--prompt", prompt, "--target", " Paris",
          "--threads", "1", "--batch-size", "1", "--conceptual-threshold", "off", "--verbose",
          "--json", json, "--html", html};
}

void expect_no_temporary_files(const TempDir& tmp) {
  for (const auto& entry : std::filesystem::directory_iterator(tmp.dir())) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos) << entry.path();
  }
}

TEST(E2eSignalTest, SigtermMidSweepWritesNothingAndExits143) {
  TempDir tmp;
  const std::string json = tmp.path("a.json"), html = tmp.path("a.html");
  const Spawned s = spawn_atman(tmp, slow_explain_args(json, html));
  ASSERT_TRUE(wait_for_text(s, "atman: passes: prefix-reuse")) << read_file(s.err_path);  // the sweep starts
  std::this_thread::sleep_for(std::chrono::seconds(1));
  ASSERT_EQ(kill(s.pid, SIGTERM), 0);
  EXPECT_EQ(wait_exit(s.pid), 143);
  EXPECT_EQ(last_line(read_file(s.err_path)),
            "atman: error: interrupted by SIGTERM; not written: json " + json + ", html " + html +
                " (files already at those paths are unchanged)");
  EXPECT_FALSE(std::filesystem::exists(json));
  EXPECT_FALSE(std::filesystem::exists(html));
  expect_no_temporary_files(tmp);
}

TEST(E2eSignalTest, SigintMidSweepKeepsThePreviousFileAndExits130) {
  TempDir tmp;
  const std::string json = tmp.path("b.json"), html = tmp.path("b.html");
  testing::write_file(json, "{\"previous\": true}\n");
  const Spawned s = spawn_atman(tmp, slow_explain_args(json, html));
  ASSERT_TRUE(wait_for_text(s, "atman: passes: prefix-reuse")) << read_file(s.err_path);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  ASSERT_EQ(kill(s.pid, SIGINT), 0);
  EXPECT_EQ(wait_exit(s.pid), 130);
  EXPECT_EQ(last_line(read_file(s.err_path)),
            "atman: error: interrupted by SIGINT; not written: json " + json + ", html " + html +
                " (files already at those paths are unchanged)");
  EXPECT_EQ(read_file(json), "{\"previous\": true}\n");
  expect_no_temporary_files(tmp);
}

// A signal that arrives while a file is being written is held until the file
// is complete and renamed; then the process ends (the library's guarantee,
// checked in a child process of the test).
TEST(InterruptTest, SignalDuringAWriteWaitsForTheCompleteFile) {
  TempDir tmp;
  const std::string path = tmp.path("big.json");
  const std::string err = tmp.path("child.err");
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const int fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, STDERR_FILENO);
    install_interrupt_handlers("atman");
    check_output_path(path, "json");
    {
      InterruptDeferral writing;
      ::kill(::getpid(), SIGTERM);  // arrives now, is held
      write_file_atomically(path, std::string(8 << 20, 'x'), "json");
    }
    _exit(0);  // not reached: the held signal ends the process above
  }
  EXPECT_EQ(wait_exit(child), 143);
  EXPECT_EQ(std::filesystem::file_size(path), 8u << 20);
  EXPECT_EQ(read_file(err), "atman: error: interrupted by SIGTERM after every output was written\n");
  expect_no_temporary_files(tmp);
}

// --- memory budget --------------------------------------------------------------------

// The resident size of the process with the model loaded, as the refusal of
// --max-memory 1 reports it ("... (the process holds 161 MB)").
int64_t process_mb_with(const std::string& model) {
  const RunResult r = run_atman({"explain", "--model", model, "--prompt", "hi", "--target", " x", "--max-memory", "1"});
  const std::string key = "(the process holds ";
  const auto at = r.err.find(key);
  EXPECT_NE(at, std::string::npos) << r.err;
  return at == std::string::npos ? 0 : std::stoll(r.err.substr(at + key.size()));
}

TEST(E2eMemoryTest, BudgetIsHonouredWithTheSameNumbers) {
  if (testing::kUnderAddressSanitizer) GTEST_SKIP() << "resident memory under AddressSanitizer is not the program's";
  TempDir tmp;
  std::string prompt;
  for (int i = 0; i < 12; ++i) prompt += "Bob likes tea. ";
  auto run = [&](const std::string& name, std::vector<std::string> extra) {
    std::vector<std::string> args = {"explain", "--model", test_model("long_context.pt"), "--prompt", prompt,
                                     "--target", " tea", "--threads", "1", "--quiet", "--json", tmp.path(name)};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_atman(args);
  };
  const RunResult free_result = run("free.json", {});
  ASSERT_EQ(free_result.exit_code, 0) << free_result.err;
  const auto free_run = nlohmann::json::parse(read_file(tmp.path("free.json")));
  // A budget a little above the loaded process (which grows by a few tens of
  // MB between loading and the sweep, more under sanitizers): the smallest of
  // a few that is accepted; the sweep must then use a smaller batch.
  const int64_t loaded = process_mb_with(test_model("long_context.pt"));
  int64_t budget = 0;
  RunResult budget_result;
  for (const int64_t extra : {40, 60, 90, 130, 180}) {
    budget = loaded + extra;
    budget_result = run("budget.json", {"--max-memory", std::to_string(budget)});
    if (budget_result.exit_code == 0) break;
    EXPECT_NE(budget_result.err.find(": the sweep ("), std::string::npos) << budget_result.err;
  }
  ASSERT_EQ(budget_result.exit_code, 0) << budget_result.err;
  const auto budget_run = nlohmann::json::parse(read_file(tmp.path("budget.json")));
  EXPECT_LE(budget_run["stats"]["peak_memory_mb"].get<double>(), static_cast<double>(budget));
  EXPECT_LT(budget_run["stats"]["batch_size"].get<int64_t>(), free_run["stats"]["batch_size"].get<int64_t>());
  ASSERT_EQ(free_run["positions"].size(), budget_run["positions"].size());
  double largest = 0.0;
  for (const auto& p : free_run["positions"]) largest = std::max(largest, std::fabs(p["relevance"].get<double>()));
  for (size_t i = 0; i < free_run["positions"].size(); ++i) {
    EXPECT_NEAR(free_run["positions"][i]["relevance"].get<double>(),
                budget_run["positions"][i]["relevance"].get<double>(), 1e-5 * largest);
  }
}

// --- determinism ----------------------------------------------------------------------

// The JSON text without "stats" (wall time and peak memory of the run).
std::string without_stats(const std::string& json_text) {
  auto j = nlohmann::json::parse(json_text);
  j.erase("stats");
  return j.dump();
}

// Threads and batch pinned (issue 28): the automatic batch follows the memory
// available, which other processes change between two runs.
TEST(E2eDeterminismTest, SameInputsGiveBitIdenticalJson) {
  TempDir tmp;
  write_table_files(tmp);
  for (const std::string threads : {"1", "2"}) {
    SCOPED_TRACE("--threads " + threads);
    std::vector<std::string> texts;
    for (int run = 0; run < 2; ++run) {
      const std::string path = tmp.path("d" + threads + "_" + std::to_string(run) + ".json");
      const RunResult r = run_atman({"explain", "--model", test_model("image_text.pt"), "--image",
                                     tmp.path("shapes.png"), "--question", "What color is the circle?", "--target",
                                     " red", "--threads", threads, "--batch-size", "16", "--quiet", "--json", path});
      ASSERT_EQ(r.exit_code, 0) << r.err;
      texts.push_back(read_file(path));
    }
    EXPECT_EQ(without_stats(texts[0]), without_stats(texts[1]));  // every relevance bit the same
    EXPECT_EQ(nlohmann::json::parse(texts[0])["stats"]["threads"], std::stoi(threads));
  }
  // Threads may change the last bits only.
  const auto one = nlohmann::json::parse(read_file(tmp.path("d1_0.json")));
  const auto two = nlohmann::json::parse(read_file(tmp.path("d2_0.json")));
  double largest = 0.0, worst = 0.0;
  for (size_t i = 0; i < one["positions"].size(); ++i) {
    const double a = one["positions"][i]["relevance"], b = two["positions"][i]["relevance"];
    largest = std::max(largest, std::fabs(a));
    worst = std::max(worst, std::fabs(a - b));
  }
  EXPECT_LE(worst, 1e-4 * largest) << "threads 1 vs 2: max abs difference " << worst;
}

}  // namespace
}  // namespace atman
