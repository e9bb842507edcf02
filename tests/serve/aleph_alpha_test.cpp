// Aleph Alpha's explanation request mapped onto explain's flags, and the
// response's character spans checked against the units' own pieces.

#include "aleph_alpha.h"

#include <nlohmann/json.hpp>
#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "api_error.h"
#include "atman/core/explainer.h"
#include "atman/render/overlay.h"
#include "base64.h"
#include "explain_service.h"
#include "test_util.h"

namespace atman::serve {
namespace {

using nlohmann::json;

std::string circle_png(int width, int height) {
  cv::Mat rgb(height, width, CV_8UC3, cv::Scalar(128, 128, 128));
  cv::circle(rgb, cv::Point(width / 3, height / 3), width / 6, cv::Scalar(220, 40, 40), cv::FILLED);
  return base64_encode(encode_png(rgb));
}

class AlephAlphaTest : public ::testing::Test {
 protected:
  void SetUp() override { model_ = Model::load(testing::test_model("image_text.pt")); }

  json request() const {
    return {{"model", "tiny"},
            {"prompt", json::array({{{"type", "text"}, {"data", "Question: What color"}, {"controls", json::array()}},
                                    {{"type", "image"}, {"data", circle_png(64, 48)}},
                                    {{"type", "text"}, {"data", " is the circle? Answer:"}}})},
            {"target", " red"}};
  }

  int status_of(const json& body) const {
    try {
      parse_aleph_alpha_request(body, *model_);
    } catch (const ApiError& e) {
      message_ = e.what();
      return e.status;
    }
    return 200;
  }

  std::shared_ptr<const Model> model_;
  mutable std::string message_;
};

TEST_F(AlephAlphaTest, RequestBecomesExplainsFlags) {
  json body = request();
  body["prompt_granularity"] = {{"type", "word"}};
  body["contextual_control_threshold"] = 0.7;
  body["control_factor"] = 0.2;
  body["control_log_additive"] = false;
  body["target_granularity"] = "token";
  body["postprocessing"] = "square";
  body["normalize"] = true;
  const AlephAlphaCall aa = parse_aleph_alpha_request(body, *model_);
  const runner::ExplainArgs& a = aa.call.args;
  EXPECT_EQ(a.prompt, "Question: What color{image} is the circle? Answer:");
  EXPECT_EQ(a.target, " red");
  EXPECT_EQ(a.granularity, "word");
  EXPECT_EQ(a.suppression_factor, 0.2);
  EXPECT_EQ(a.conceptual_threshold, "0.7");
  EXPECT_EQ(a.control, "multiplicative");
  EXPECT_EQ(a.target_granularity, "token");
  EXPECT_EQ(a.postprocess, "square");
  EXPECT_TRUE(a.normalize);
  const ImageConfig& image = *model_->config().image;
  const int64_t side = std::min(image.grid_rows, image.grid_cols);
  EXPECT_EQ(a.unit_flags.image_granularity, 6 < side ? "6" : "patch");
  ASSERT_EQ(aa.items.size(), 3u);
  EXPECT_EQ(aa.items[0].byte_begin, 0);
  EXPECT_EQ(aa.items[0].byte_end, 20);
  EXPECT_EQ(aa.items[1].type, "image");
  EXPECT_EQ(aa.items[2].byte_begin, 27);  // after "{image}"
  EXPECT_FALSE(aa.call.image_bytes.empty());
}

TEST_F(AlephAlphaTest, DefaultsAreTheHostedApis) {
  const AlephAlphaCall aa = parse_aleph_alpha_request(request(), *model_);
  EXPECT_EQ(aa.call.args.suppression_factor, 0.1);
  EXPECT_EQ(aa.call.args.conceptual_threshold, "off");  // no contextual_control_threshold: no spreading
  EXPECT_EQ(aa.call.args.control, "log-additive");
  EXPECT_EQ(aa.call.args.granularity, "auto");
  EXPECT_EQ(aa.call.args.target_granularity, "complete");
}

TEST_F(AlephAlphaTest, CroppingCutsThePictureFirst) {
  json body = request();
  body["prompt"][1]["x"] = 8;
  body["prompt"][1]["y"] = 4;
  body["prompt"][1]["size"] = 32;
  const AlephAlphaCall aa = parse_aleph_alpha_request(body, *model_);
  const cv::Mat cropped = decode_image_rgb(aa.call.image_bytes, "crop");
  EXPECT_EQ(cropped.cols, 32);
  EXPECT_EQ(cropped.rows, 32);
  body["prompt"][1]["size"] = 60;
  EXPECT_EQ(status_of(body), 400);
  EXPECT_NE(message_.find("not inside the 64 x 48 picture"), std::string::npos) << message_;
}

TEST_F(AlephAlphaTest, WhatIsNotMappedIsRefusedNamingTheField) {
  const std::pair<std::function<void(json&)>, std::string> cases[] = {
      {[](json& b) { b["prompt"][0]["controls"] = json::array({{{"start", 0}, {"length", 3}, {"factor", 0.5}}}); },
       "prompt[0].controls"},
      {[](json& b) { b["prompt"].push_back({{"type", "token_ids"}, {"data", {1, 2}}}); }, "prompt[3]: token_ids"},
      {[](json& b) { b["prompt"].push_back(b["prompt"][1]); }, "prompt[3]: one image per prompt"},
      {[](json& b) { b["prompt"][0]["type"] = "audio"; }, "prompt[0].type must be text, image or token_ids"},
      {[](json& b) { b["prompt"][0]["data"] = 5; }, "prompt[0].data must be a string"},
      {[](json& b) { b["prompt"][1]["data"] = "%%"; }, "prompt[1].data: not base64"},
      {[](json& b) { b["prompt"][0]["colour"] = 1; }, "unknown field prompt[0].colour"},
      {[](json& b) { b["prompt"] = json::array(); }, "prompt must be a non-empty list"},
      {[](json& b) { b["temperature"] = 1; }, "unknown field temperature"},
      {[](json& b) { b["prompt_granularity"] = {{"type", "chapter"}}; }, "prompt_granularity type must be"},
      {[](json& b) { b["prompt_granularity"] = {{"type", "custom"}}; }, "needs a non-empty string delimiter"},
      {[](json& b) { b["postprocessing"] = "cube"; }, "postprocessing must be one of square, absolute"},
      {[](json& b) { b["control_factor"] = "big"; }, "control_factor must be a number"},
      {[](json& b) { b["target"] = json::array(); }, "target must be a string"},
  };
  for (const auto& [edit, message] : cases) {
    json body = request();
    edit(body);
    EXPECT_EQ(status_of(body), 400) << body.dump().substr(0, 200);
    EXPECT_NE(message_.find(message), std::string::npos) << message_;
  }
}

// Every text score's characters are its unit's pieces (the word mark read as
// a space); the image scores are the explanation's rectangles; the target last.
TEST_F(AlephAlphaTest, ResponseSpansAreTheUnitsCharacters) {
  json body = request();
  body["prompt_granularity"] = {{"type", "token"}};
  body["control_log_additive"] = false;
  const AlephAlphaCall aa = parse_aleph_alpha_request(body, *model_);
  ServedModel served{"tiny", testing::test_model("image_text.pt"), model_};
  const ExplainerOf explainer{&served, std::make_shared<const Explainer>(model_)};
  const ExplainReply reply = run_explain(explainer, aa.call, MemoryBudget(0), {});
  const json response = aleph_alpha_response(aa, reply.explanation, *model_, "v");
  ASSERT_EQ(response["explanations"].size(), 1u);
  const json& items = response["explanations"][0]["items"];
  ASSERT_EQ(items.size(), 4u);
  EXPECT_EQ(items[1]["type"], "image");
  EXPECT_EQ(items[3]["type"], "target");
  std::vector<std::string> pieces;  // the explanation's text units, in order
  std::vector<double> values;
  for (const ExplainedUnit& u : reply.explanation.units) {
    if (u.kind != PositionKind::kText || u.token_id == model_->config().bos_id) continue;
    std::string piece = u.piece;
    for (size_t at; (at = piece.find("\xe2\x96\x81")) != std::string::npos;) piece.replace(at, 3, " ");
    pieces.push_back(piece);
    values.push_back(u.relevance);
  }
  size_t k = 0;
  for (int item : {0, 2}) {
    const std::string text = aa.items[item].text;
    for (const json& s : items[item]["scores"]) {
      ASSERT_LT(k, pieces.size());
      // A word mark at the start of an item stands for no character of it: compare without leading spaces.
      const auto unspaced = [](std::string t) { return t.erase(0, t.find_first_not_of(' ')); };
      EXPECT_EQ(unspaced(text.substr(s["start"].get<size_t>(), s["length"].get<size_t>())), unspaced(pieces[k])) << k;
      EXPECT_EQ(s["score"].get<double>(), values[k]);
      ++k;
    }
  }
  EXPECT_EQ(k, pieces.size());
  EXPECT_EQ(items[1]["scores"], reply.document["explanations"][0]["image"]);
  EXPECT_EQ(items[3]["scores"], json::array());  // the target's tokens are not explained units
}

}  // namespace
}  // namespace atman::serve
