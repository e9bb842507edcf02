#include "eval/eval_summary.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "eval/report_fields.h"

namespace atman {
namespace {

using ojson = nlohmann::ordered_json;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

ojson interval_json(const MeanInterval& m) {
  return {{"mean", number_or_null(m.mean)}, {"low", number_or_null(m.low)}, {"high", number_or_null(m.high)},
          {"n", m.n}};
}

}  // namespace

namespace {

// The IG completeness gap, the rank correlations with LOO and the
// faithfulness areas of one group of rows, with their bootstrap intervals.
void summarize_faithfulness(const std::vector<const EvalRow*>& members, int64_t resamples, uint64_t seed,
                            SummaryRow& s) {
  std::vector<double> gap, rho, tau, areas[6];
  for (const EvalRow* row : members) {
    gap.push_back(row->ig_completeness_gap);
    rho.push_back(row->loo_spearman);
    tau.push_back(row->loo_kendall);
    const bool has = row->faithfulness.has_value();
    const OperatorCurves* ops[2] = {has ? &row->faithfulness->attention : nullptr,
                                    has ? &row->faithfulness->input : nullptr};
    for (int o = 0; o < 2; ++o) {
      areas[3 * o].push_back(has ? ops[o]->aopc_morf : kNaN);
      areas[3 * o + 1].push_back(has ? ops[o]->aopc_lerf : kNaN);
      areas[3 * o + 2].push_back(has ? ops[o]->abpc : kNaN);
    }
  }
  s.ig_completeness_gap = bootstrap_mean(gap, resamples, seed);
  s.loo_spearman = bootstrap_mean(rho, resamples, seed);
  s.loo_kendall = bootstrap_mean(tau, resamples, seed);
  SummaryRow::Areas* out[2] = {&s.attention, &s.input};
  for (int o = 0; o < 2; ++o) {
    out[o]->aopc_morf = bootstrap_mean(areas[3 * o], resamples, seed);
    out[o]->aopc_lerf = bootstrap_mean(areas[3 * o + 1], resamples, seed);
    out[o]->abpc = bootstrap_mean(areas[3 * o + 2], resamples, seed);
  }
}

}  // namespace

std::vector<SummaryRow> summarize(const std::vector<EvalRow>& rows, int64_t resamples, uint64_t seed) {
  std::vector<std::string> order;
  std::map<std::string, std::vector<const EvalRow*>> groups;
  for (const EvalRow& r : rows) {
    const std::string key = r.task + '\x1f' + r.method + '\x1f' + r.setting;
    if (!groups.count(key)) order.push_back(key);
    groups[key].push_back(&r);
  }
  std::vector<SummaryRow> out;
  for (const std::string& key : order) {
    const auto& members = groups[key];
    SummaryRow s;
    s.task = members.front()->task;
    s.method = members.front()->method;
    s.setting = members.front()->setting;
    s.suppression_factor = members.front()->suppression_factor;
    s.conceptual_threshold = members.front()->conceptual_threshold;
    s.ig_steps = members.front()->ig_steps;
    s.items = static_cast<int64_t>(members.size());
    std::vector<double> p, r, ap, pg;
    double seconds = 0.0, peak = 0.0, correct = 0.0;
    int64_t timed = 0, answered = 0;
    for (const EvalRow* row : members) {
      if (!row->error.empty()) {
        ++s.errors;
      } else if (row->truth_positions == 0) {
        ++s.no_truth;
      }
      p.push_back(row->metrics.precision);
      r.push_back(row->metrics.recall);
      ap.push_back(row->metrics.average_precision);
      pg.push_back(row->metrics.pointing);
      if (row->error.empty() && std::isfinite(row->seconds)) {
        seconds += row->seconds;
        peak += row->peak_mb;
        ++timed;
        s.peak_mb_max = std::max(s.peak_mb_max, row->peak_mb);
        s.resident_peak_mb_max = std::max(s.resident_peak_mb_max, row->resident_peak_mb);
      }
      if (row->correct >= 0) {
        correct += row->correct;
        ++answered;
      }
    }
    s.precision = bootstrap_mean(p, resamples, seed);
    s.recall = bootstrap_mean(r, resamples, seed);
    s.average_precision = bootstrap_mean(ap, resamples, seed);
    s.pointing = bootstrap_mean(pg, resamples, seed);
    s.seconds_mean = timed ? seconds / timed : kNaN;
    s.peak_mb_mean = timed ? peak / timed : kNaN;
    s.accuracy = answered ? correct / answered : kNaN;
    summarize_faithfulness(members, resamples, seed, s);
    out.push_back(std::move(s));
  }
  return out;
}

namespace {

// A task's second table: faithfulness areas, agreement with LOO, IG's
// completeness gap (empty when no row of the task has any of them).
std::string faithfulness_table(const std::vector<SummaryRow>& summary, const std::string& task) {
  auto cell = [](const MeanInterval& m) {
    if (m.n == 0) return std::string("-");
    return fmt::format("{:.3f} [{:.3f}, {:.3f}]", m.mean, m.low, m.high);
  };
  bool any = false;
  for (const SummaryRow& s : summary) {
    any = any || (s.task == task && (s.attention.abpc.n > 0 || s.loo_spearman.n > 0 || s.ig_completeness_gap.n > 0));
  }
  if (!any) return "";
  std::string out =
      "| method | setting | ABPC (attention) | AOPC MoRF (attention) | AOPC LeRF (attention) | ABPC (input) | "
      "AOPC MoRF (input) | AOPC LeRF (input) | Spearman vs LOO | Kendall vs LOO | IG completeness gap | s/item |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const SummaryRow& s : summary) {
    if (s.task != task) continue;
    out += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.3f} |\n", s.method, s.setting,
                       cell(s.attention.abpc), cell(s.attention.aopc_morf), cell(s.attention.aopc_lerf),
                       cell(s.input.abpc), cell(s.input.aopc_morf), cell(s.input.aopc_lerf), cell(s.loo_spearman),
                       cell(s.loo_kendall), cell(s.ig_completeness_gap), s.seconds_mean);
  }
  return out + "\n";
}

}  // namespace

std::string format_summary_markdown(const std::vector<SummaryRow>& summary) {
  auto cell = [](const MeanInterval& m) {
    if (m.n == 0) return std::string("-");
    return fmt::format("{:.3f} [{:.3f}, {:.3f}]", m.mean, m.low, m.high);
  };
  std::string out;
  std::vector<std::string> tasks;
  for (const SummaryRow& s : summary) {
    if (std::find(tasks.begin(), tasks.end(), s.task) == tasks.end()) tasks.push_back(s.task);
  }
  for (const std::string& task : tasks) {
    int64_t items = 0;
    double accuracy = kNaN;
    for (const SummaryRow& s : summary) {
      if (s.task == task) {
        items = std::max(items, s.items);
        if (!std::isfinite(accuracy)) accuracy = s.accuracy;
      }
    }
    out += fmt::format("### {} ({} items; model answers {:.1f}% correctly)\n\n", task, items, 100.0 * accuracy);
    out += "| method | setting | mAP (precision) | mAR (recall) | ranking AP | pointing game | s/item | peak MB (mean / max) | n |\n";
    out += "|---|---|---|---|---|---|---|---|---|\n";
    for (const SummaryRow& s : summary) {
      if (s.task != task) continue;
      std::string n = fmt::format("{}", s.precision.n);
      if (s.errors) n += fmt::format(" ({} failed)", s.errors);
      if (s.no_truth) n += fmt::format(" ({} without ground truth)", s.no_truth);
      out += fmt::format("| {} | {} | {} | {} | {} | {} | {:.3f} | {:.1f} / {:.1f} | {} |\n", s.method, s.setting,
                         cell(s.precision), cell(s.recall), cell(s.average_precision), cell(s.pointing),
                         s.seconds_mean, s.peak_mb_mean, s.peak_mb_max, n);
    }
    out += "\n";
    out += faithfulness_table(summary, task);
  }
  return out;
}

std::string summary_to_json(const std::vector<SummaryRow>& summary) {
  ojson doc = ojson::array();
  for (const SummaryRow& s : summary) {
    ojson j;
    j["task"] = s.task;
    j["method"] = s.method;
    j["setting"] = s.setting;
    j["suppression_factor"] = number_or_null(s.suppression_factor);
    j["conceptual_threshold"] = s.conceptual_threshold ? ojson(*s.conceptual_threshold) : ojson("off");
    j["ig_steps"] = s.ig_steps;
    j["items"] = s.items;
    j["errors"] = s.errors;
    j["no_truth"] = s.no_truth;
    j["precision"] = interval_json(s.precision);
    j["recall"] = interval_json(s.recall);
    j["average_precision"] = interval_json(s.average_precision);
    j["pointing"] = interval_json(s.pointing);
    j["seconds_mean"] = number_or_null(s.seconds_mean);
    j["peak_mb_mean"] = number_or_null(s.peak_mb_mean);
    j["peak_mb_max"] = number_or_null(s.peak_mb_max);
    j["resident_peak_mb_max"] = number_or_null(s.resident_peak_mb_max);
    j["accuracy"] = number_or_null(s.accuracy);
    j["ig_completeness_gap"] = interval_json(s.ig_completeness_gap);
    j["loo_spearman"] = interval_json(s.loo_spearman);
    j["loo_kendall"] = interval_json(s.loo_kendall);
    for (const auto& [name, areas] : {std::pair{"attention", &s.attention}, std::pair{"input", &s.input}}) {
      j["faithfulness"][name] = {{"aopc_morf", interval_json(areas->aopc_morf)},
                                 {"aopc_lerf", interval_json(areas->aopc_lerf)},
                                 {"abpc", interval_json(areas->abpc)}};
    }
    doc.push_back(std::move(j));
  }
  return doc.dump(2, ' ', false, ojson::error_handler_t::replace) + "\n";
}

std::string summary_to_csv(const std::vector<SummaryRow>& summary) {
  std::string out =
      "task,method,setting,suppression_factor,conceptual_threshold,ig_steps,items,errors,no_truth,"
      "precision,precision_low,precision_high,recall,recall_low,recall_high,average_precision,"
      "average_precision_low,average_precision_high,pointing,pointing_low,pointing_high,n,seconds_mean,"
      "peak_mb_mean,peak_mb_max,resident_peak_mb_max,accuracy,ig_completeness_gap,loo_spearman,loo_kendall,"
      "attention_aopc_morf,attention_aopc_lerf,attention_abpc,input_aopc_morf,input_aopc_lerf,input_abpc\n";
  for (const SummaryRow& s : summary) {
    auto m = [](const MeanInterval& v) {
      return fmt::format("{},{},{}", csv_number(v.mean), csv_number(v.low), csv_number(v.high));
    };
    out += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n", csv_field(s.task),
                       csv_field(s.method), csv_field(s.setting), csv_number(s.suppression_factor),
                       kappa_text(s.conceptual_threshold), s.ig_steps, s.items, s.errors, s.no_truth,
                       m(s.precision), m(s.recall), m(s.average_precision), m(s.pointing), s.precision.n,
                       csv_number(s.seconds_mean), csv_number(s.peak_mb_mean), csv_number(s.peak_mb_max),
                       csv_number(s.resident_peak_mb_max), csv_number(s.accuracy));
    out.pop_back();  // the line's end, after the faithfulness columns
    for (const MeanInterval* m : {&s.ig_completeness_gap, &s.loo_spearman, &s.loo_kendall, &s.attention.aopc_morf,
                                  &s.attention.aopc_lerf, &s.attention.abpc, &s.input.aopc_morf, &s.input.aopc_lerf,
                                  &s.input.abpc}) {
      out += "," + csv_number(m->mean);
    }
    out += "\n";
  }
  return out;
}

}  // namespace atman
