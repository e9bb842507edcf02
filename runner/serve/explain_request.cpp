#include "explain_request.h"

#include <algorithm>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "atman/base/text.h"
#include "api_error.h"

namespace atman::serve {
namespace {

std::string field_name(const std::string& long_flag) {
  std::string name = long_flag;
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

// CLI11's message with "--image-granularity" written as the field "image_granularity".
std::string in_field_names(std::string message, const CLI::App& app) {
  std::vector<std::string> flags;
  for (const CLI::Option* option : app.get_options()) {
    for (const std::string& name : option->get_lnames()) flags.push_back(name);
  }
  std::sort(flags.begin(), flags.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  for (const std::string& flag : flags) {
    const std::string dashed = "--" + flag;
    for (size_t at = message.find(dashed); at != std::string::npos; at = message.find(dashed, at)) {
      message.replace(at, dashed.size(), field_name(flag));
    }
  }
  return first_line(message, std::string::npos);
}

struct FlagApp {
  CLI::App app{"atman serve: the options of one explanation"};
  runner::ExplainArgs args;
  runner::ExplainFlagHandles handles;
  FlagApp() { handles = runner::add_explain_flags(&app, args); }
};

// explain's flags as body fields.
std::vector<FlagField> flag_fields(const CLI::App& app) {
  std::vector<FlagField> fields;
  for (const CLI::Option* option : app.get_options()) {
    if (option->get_lnames().empty()) continue;
    const std::string& name = option->get_lnames().front();
    fields.push_back({field_name(name), "--" + name, option->get_expected_max() != 0});
  }
  return fields;
}

}  // namespace

runner::ExplainArgs parse_explain_flags(const std::vector<std::string>& argv) {
  FlagApp flags;
  std::vector<std::string> reversed(argv.rbegin(), argv.rend());  // CLI11 reads a vector from its back
  try {
    flags.app.parse(reversed);
    runner::note_given_explain_flags(&flags.app, flags.handles, flags.args);
  } catch (const CLI::ParseError& e) {
    throw bad_request(in_field_names(e.what(), flags.app));
  }
  return flags.args;
}

std::vector<std::string> explain_option_fields() {
  FlagApp flags;
  std::vector<std::string> fields;
  for (const CLI::Option* option : flags.app.get_options()) {
    if (option->get_lnames().empty()) continue;  // --help
    const std::string field = field_name(option->get_lnames().front());
    if (field == "help" || refused_fields().count(field) || call_fields().count(field)) continue;
    fields.push_back(field);
  }
  return fields;
}

ExplainCall parse_explain_request(const nlohmann::json& body) {
  FlagApp probe;  // the flag definitions, to read the fields' kinds and to name them in messages
  CallFields fields = read_call_fields(body, flag_fields(probe.app));
  ExplainCall call;
  call.model = std::move(fields.model);
  call.image_bytes = std::move(fields.image_bytes);
  call.overlay = fields.overlay;
  call.stream = fields.stream;
  call.args = parse_explain_flags(fields.argv);
  try {
    runner::check_explain_flags(call.args);
    runner::explain_options_from(call.args);  // range checks, before the request waits for a worker
    runner::baseline_options_from(call.args);
  } catch (const std::invalid_argument& e) {
    throw bad_request(in_field_names(e.what(), probe.app));
  }
  return call;
}

}  // namespace atman::serve
