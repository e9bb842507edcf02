#include "eval/eval_rows.h"

#include <stdexcept>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "eval/report_fields.h"

namespace atman {
namespace {

using ojson = nlohmann::ordered_json;

ojson curves_json(const OperatorCurves& c) {
  return {{"clean", c.clean}, {"morf", c.morf}, {"lerf", c.lerf}, {"aopc_morf", c.aopc_morf},
          {"aopc_lerf", c.aopc_lerf}, {"abpc", c.abpc}};
}

OperatorCurves curves_from_json(const ojson& j) {
  OperatorCurves c;
  c.clean = j.at("clean").get<double>();
  c.morf = j.at("morf").get<std::vector<double>>();
  c.lerf = j.at("lerf").get<std::vector<double>>();
  c.aopc_morf = j.at("aopc_morf").get<double>();
  c.aopc_lerf = j.at("aopc_lerf").get<double>();
  c.abpc = j.at("abpc").get<double>();
  return c;
}

ojson faithfulness_json(const ItemFaithfulness& f) {
  return {{"fractions", f.fractions}, {"attention", curves_json(f.attention)}, {"input", curves_json(f.input)}};
}

ItemFaithfulness faithfulness_from_json(const ojson& j) {
  ItemFaithfulness f;
  f.fractions = j.at("fractions").get<std::vector<double>>();
  f.attention = curves_from_json(j.at("attention"));
  f.input = curves_from_json(j.at("input"));
  return f;
}

}  // namespace

std::string row_to_json(const EvalRow& r) {
  ojson j;
  j["task"] = r.task;
  j["item"] = r.item;
  j["index"] = r.index;
  j["method"] = r.method;
  j["setting"] = r.setting;
  j["suppression_factor"] = number_or_null(r.suppression_factor);
  j["conceptual_threshold"] = r.conceptual_threshold ? ojson(*r.conceptual_threshold) : ojson("off");
  j["ig_steps"] = r.ig_steps;
  j["positions"] = r.positions;
  j["truth_positions"] = r.truth_positions;
  j["precision"] = number_or_null(r.metrics.precision);
  j["recall"] = number_or_null(r.metrics.recall);
  j["average_precision"] = number_or_null(r.metrics.average_precision);
  j["pointing"] = number_or_null(r.metrics.pointing);
  j["seconds"] = r.seconds;
  j["peak_mb"] = r.peak_mb;
  j["resident_peak_mb"] = r.resident_peak_mb;
  j["target_log_prob"] = number_or_null(r.target_log_prob);
  j["correct"] = r.correct;
  j["error"] = r.error;
  if (!r.ig_method.empty()) j["ig_method"] = r.ig_method;
  j["ig_completeness_gap"] = number_or_null(r.ig_completeness_gap);
  j["loo_spearman"] = number_or_null(r.loo_spearman);
  j["loo_kendall"] = number_or_null(r.loo_kendall);
  if (r.faithfulness) j["faithfulness"] = faithfulness_json(*r.faithfulness);
  return j.dump(-1, ' ', false, ojson::error_handler_t::replace);
}

EvalRow row_from_json(const std::string& line) {
  ojson j;
  try {
    j = ojson::parse(line);
  } catch (const ojson::parse_error&) {
    throw std::invalid_argument("not a JSON object");
  }
  if (!j.is_object()) throw std::invalid_argument("not a JSON object");
  EvalRow r;
  try {
    r.task = j.at("task").get<std::string>();
    r.item = j.at("item").get<std::string>();
    r.index = j.at("index").get<int64_t>();
    r.method = j.at("method").get<std::string>();
    r.setting = j.at("setting").get<std::string>();
    r.suppression_factor = number_or_nan(j, "suppression_factor");
    const ojson& k = j.at("conceptual_threshold");
    if (k.is_number()) r.conceptual_threshold = k.get<double>();
    r.ig_steps = j.at("ig_steps").get<int64_t>();
    r.positions = j.at("positions").get<int64_t>();
    r.truth_positions = j.at("truth_positions").get<int64_t>();
    r.metrics.precision = number_or_nan(j, "precision");
    r.metrics.recall = number_or_nan(j, "recall");
    r.metrics.average_precision = number_or_nan(j, "average_precision");
    r.metrics.pointing = number_or_nan(j, "pointing");
    r.seconds = number_or_nan(j, "seconds");
    r.peak_mb = number_or_nan(j, "peak_mb");
    r.resident_peak_mb = number_or_nan(j, "resident_peak_mb");
    r.target_log_prob = number_or_nan(j, "target_log_prob");
    r.correct = j.at("correct").get<int>();
    r.error = j.at("error").get<std::string>();
    r.ig_method = j.value("ig_method", "");
    r.ig_completeness_gap = number_or_nan(j, "ig_completeness_gap");
    r.loo_spearman = number_or_nan(j, "loo_spearman");
    r.loo_kendall = number_or_nan(j, "loo_kendall");
    if (j.contains("faithfulness")) r.faithfulness = faithfulness_from_json(j.at("faithfulness"));
  } catch (const ojson::exception& e) {
    throw std::invalid_argument(std::string("bad row: ") + e.what());
  }
  return r;
}

std::string csv_header() {
  return "task,item,index,method,setting,suppression_factor,conceptual_threshold,ig_steps,positions,"
         "truth_positions,precision,recall,average_precision,pointing,seconds,peak_mb,resident_peak_mb,"
         "target_log_prob,correct,error,ig_method,ig_completeness_gap,loo_spearman,loo_kendall,attention_aopc_morf,"
         "attention_aopc_lerf,attention_abpc,input_aopc_morf,input_aopc_lerf,input_abpc";
}

// The faithfulness columns of rows.csv (empty without curves).
std::string faithfulness_csv(const std::optional<ItemFaithfulness>& f) {
  if (!f) return ",,,,,";
  return fmt::format("{},{},{},{},{},{}", csv_number(f->attention.aopc_morf), csv_number(f->attention.aopc_lerf),
                     csv_number(f->attention.abpc), csv_number(f->input.aopc_morf), csv_number(f->input.aopc_lerf),
                     csv_number(f->input.abpc));
}

std::string row_to_csv(const EvalRow& r) {
  return fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}", csv_field(r.task),
                     csv_field(r.item), r.index, csv_field(r.method), csv_field(r.setting),
                     csv_number(r.suppression_factor), kappa_text(r.conceptual_threshold), r.ig_steps, r.positions,
                     r.truth_positions, csv_number(r.metrics.precision), csv_number(r.metrics.recall),
                     csv_number(r.metrics.average_precision), csv_number(r.metrics.pointing), csv_number(r.seconds),
                     csv_number(r.peak_mb), csv_number(r.resident_peak_mb), csv_number(r.target_log_prob), r.correct,
                     csv_field(r.error)) +
         fmt::format(",{},{},{},{},{}", csv_field(r.ig_method), csv_number(r.ig_completeness_gap),
                     csv_number(r.loo_spearman), csv_number(r.loo_kendall), faithfulness_csv(r.faithfulness));
}

}  // namespace atman
