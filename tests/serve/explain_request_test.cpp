// The body of POST /v1/explain read into explain's flags: every field a flag
// of `atman explain`, the command's own checks, one line naming the field.

#include "explain_request.h"

#include <algorithm>
#include <memory>
#include <thread>

#include <nlohmann/json.hpp>
#include <gtest/gtest.h>

#include "admission.h"
#include "api_error.h"
#include "base64.h"
#include "test_util.h"

namespace atman::serve {
namespace {

using nlohmann::json;

json base() { return {{"model", "tiny"}, {"question", "What color is the circle?"}, {"target", " red"}}; }

// The status and message of the ApiError `f` throws.
std::pair<int, std::string> refusal(const std::function<void()>& f) {
  try {
    f();
  } catch (const ApiError& e) {
    return {e.status, e.what()};
  }
  return {0, "no error"};
}

TEST(ExplainRequestTest, FieldsAreExplainsFlags) {
  json body = base();
  body["conceptual_threshold"] = "off";
  body["threads"] = 1;
  body["suppression_factor"] = 0.25;
  body["granularity"] = "word";
  body["image_granularity"] = 2;  // a number where the flag takes text
  body["normalize"] = true;
  body["contrast"] = "-blue";     // a value that starts with '-' stays a value
  body["method"] = "atman";
  const ExplainCall call = parse_explain_request(body);
  EXPECT_EQ(call.model, "tiny");
  EXPECT_TRUE(call.args.has_question);
  EXPECT_FALSE(call.args.has_prompt);
  EXPECT_EQ(call.args.question, "What color is the circle?");
  EXPECT_EQ(call.args.target, " red");
  EXPECT_EQ(call.args.conceptual_threshold, "off");
  EXPECT_EQ(call.args.threads, 1);
  EXPECT_EQ(call.args.suppression_factor, 0.25);
  EXPECT_EQ(call.args.granularity, "word");
  EXPECT_EQ(call.args.unit_flags.image_granularity, "2");
  EXPECT_TRUE(call.args.normalize);
  EXPECT_TRUE(call.args.has_contrast);
  EXPECT_EQ(call.args.contrast, "-blue");
  EXPECT_FALSE(call.overlay);
  EXPECT_TRUE(call.image_bytes.empty());
}

TEST(ExplainRequestTest, DefaultsAreTheCommandsDefaults) {
  const ExplainCall call = parse_explain_request(base());
  const runner::ExplainArgs defaults;
  EXPECT_EQ(call.args.suppression_factor, defaults.suppression_factor);
  EXPECT_EQ(call.args.conceptual_threshold, defaults.conceptual_threshold);
  EXPECT_EQ(call.args.method, "atman");
  EXPECT_EQ(call.args.granularity, "token");
  EXPECT_FALSE(call.args.normalize);
}

TEST(ExplainRequestTest, PromptImageAndOverlay) {
  json body = {{"model", "tiny"}, {"prompt", "-- a prompt"}, {"target", ""}, {"image", base64_encode("PNGBYTES")},
               {"overlay", true}, {"stream", true}};
  const ExplainCall call = parse_explain_request(body);
  EXPECT_TRUE(call.args.has_prompt);
  EXPECT_EQ(call.args.prompt, "-- a prompt");
  EXPECT_EQ(call.args.target, "");
  EXPECT_EQ(call.image_bytes, "PNGBYTES");
  EXPECT_TRUE(call.overlay);
  EXPECT_TRUE(call.stream);
}

TEST(ExplainRequestTest, OptionFieldsListEveryTakenFlag) {
  const std::vector<std::string> fields = explain_option_fields();
  for (const char* f : {"suppression_factor", "conceptual_threshold", "granularity", "image_granularity", "method",
                        "threads", "batch_size", "contrast", "normalize", "colormap", "ig_steps"}) {
    EXPECT_NE(std::find(fields.begin(), fields.end(), f), fields.end()) << f;
  }
  for (const char* f : {"json", "html", "max_memory", "rank", "processes", "model", "image", "quiet"}) {
    EXPECT_EQ(std::find(fields.begin(), fields.end(), f), fields.end()) << f;
  }
}

TEST(ExplainRequestTest, BadBodiesGetOneLineNamingTheField) {
  const std::pair<json, std::string> cases[] = {
      {json{{"question", "q"}, {"target", " red"}}, "model is missing"},
      {json{{"model", "tiny"}, {"question", "q"}}, "target is missing"},
      {json{{"model", "tiny"}, {"target", " red"}}, "give exactly one of prompt and question"},
      {json{{"model", 3}, {"question", "q"}, {"target", " red"}}, "model must be a string"},
      {json{{"model", "tiny"}, {"question", "q"}, {"target", 1}}, "target must be a string"},
      {[] { json b = base(); b["colour"] = 1; return b; }(), "unknown field colour"},
      {[] { json b = base(); b["json"] = "/tmp/x.json"; return b; }(), "field json is not taken by the service"},
      {[] { json b = base(); b["max_memory"] = 10; return b; }(), "field max_memory is not taken"},
      {[] { json b = base(); b["threads"] = true; return b; }(), "threads must be a string or a number"},
      {[] { json b = base(); b["threads"] = json::array(); return b; }(), "threads must be a string or a number"},
      {[] { json b = base(); b["normalize"] = "yes"; return b; }(), "normalize must be true or false"},
      {[] { json b = base(); b["threads"] = -1; return b; }(), "threads must be in [0, 1024], got -1"},
      {[] { json b = base(); b["method"] = "magic"; return b; }(), "method"},
      {[] { json b = base(); b["suppression_factor"] = "x"; return b; }(), "suppression_factor"},
      {[] { json b = base(); b["image"] = "@@@"; return b; }(), "image: not base64"},
      {[] { json b = base(); b["image"] = ""; return b; }(), "image is empty"},
      {[] { json b = base(); b["overlay"] = true; return b; }(), "overlay needs an image"},
      {[] { json b = base(); b["contrast"] = " blue"; b["method"] = "ig"; return b; }(),
       "contrast is AtMan's: it takes no method ig"},
  };
  for (const auto& [body, message] : cases) {
    const auto [status, text] = refusal([&] { parse_explain_request(body); });
    EXPECT_EQ(status, 400) << body.dump();
    EXPECT_NE(text.find(message), std::string::npos) << body.dump() << " -> " << text;
    EXPECT_EQ(text.find('\n'), std::string::npos) << text;
    EXPECT_EQ(text.find("--"), std::string::npos) << "flags are named as fields: " << text;
  }
}

TEST(ExplainRequestTest, MalformedJsonIsRefused) {
  EXPECT_EQ(refusal([] { parse_json_object("{\"model\": "); }).second, "malformed JSON body");
  EXPECT_EQ(refusal([] { parse_json_object("[1, 2]"); }).second, "the body must be a JSON object");
  EXPECT_EQ(refusal([] { parse_json_object(""); }).first, 400);
  EXPECT_EQ(parse_json_object("{\"a\": 1}")["a"], 1);
}

TEST(AdmissionTest, AFullQueueIsRefusedAtOnce) {
  Admission admission(1, 0);
  {
    Admission::Ticket first(admission);
    EXPECT_EQ(admission.running(), 1);
    const auto [status, text] = refusal([&] { Admission::Ticket second(admission); });
    EXPECT_EQ(status, 503);
    EXPECT_NE(text.find("busy"), std::string::npos);
  }
  EXPECT_EQ(admission.running(), 0);
  Admission::Ticket again(admission);  // the worker is free again
  EXPECT_EQ(admission.running(), 1);
}

TEST(AdmissionTest, AQueuedRequestRunsWhenAWorkerFrees) {
  Admission admission(1, 1);
  auto first = std::make_unique<Admission::Ticket>(admission);
  std::thread waiter([&] { Admission::Ticket second(admission); });
  while (admission.waiting() == 0) std::this_thread::yield();
  EXPECT_EQ(refusal([&] { Admission::Ticket third(admission); }).first, 503);  // one running, one waiting
  first.reset();
  waiter.join();
  EXPECT_EQ(admission.running(), 0);
  EXPECT_EQ(admission.waiting(), 0);
}

}  // namespace
}  // namespace atman::serve
