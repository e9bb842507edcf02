#include "eval/eval_run.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "atman/base/fingerprint.h"
#include "atman/base/text.h"
#include "atman/core/explainer.h"
#include "atman/core/names.h"
#include "atman/io/atomic_file.h"
#include "atman/io/image.h"
#include "atman/methods/loo.h"
#include "atman/methods/removal.h"
#include "atman/model/target_pass.h"
#include "atman/render/json_output.h"
#include "atman/render/overlay.h"
#include "atman/runtime/distributed.h"
#include "atman/runtime/memory_meter.h"
#include "eval/example_pages.h"
#include "eval/rank_correlation.h"

namespace atman {
namespace {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string row_key(const std::string& task, const std::string& item, const std::string& method,
                    const std::string& setting) {
  return task + '\x1f' + item + '\x1f' + method + '\x1f' + setting;
}

struct Unit {
  Method method;
  std::optional<EvalSetting> setting;  // atman only
  std::string label;
  IgRule ig_rule = IgRule::kRiemannMiddle;  // ig only
};

struct CleanAnswer {
  double log_prob = 0.0;
  int correct = -1;
};

CleanAnswer clean_answer(const Model& model, const PreparedInput& prepared) {
  c10::InferenceMode guard;
  const Sequence& seq = prepared.sequence;
  const int64_t t = static_cast<int64_t>(seq.target_ids.size());
  const at::Tensor logits = target_row_logits(model, prepared.embeddings, prediction_rows(seq))[0];  // [T, V]
  const at::Tensor lp = at::log_softmax(logits.to(at::kDouble), -1);
  const at::Tensor ids = at::tensor(seq.target_ids, at::kLong);
  CleanAnswer out;
  out.log_prob = lp.gather(1, ids.view({t, 1})).sum().item<double>();
  out.correct = lp.argmax(1).eq(ids).all().item<bool>() ? 1 : 0;
  return out;
}

std::string safe_name(const std::string& text) {
  std::string out;
  for (char c : text) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '_';
  return out;
}

}  // namespace

namespace {

// Creates `out_dir` and writes its run.json (the model and the latest sets,
// for tools/plot_eval.py); refuses a folder that holds another model's rows.
void claim_output_folder(const Model& model, const std::vector<EvalSet>& sets, const std::string& out_dir) {
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (!fs::is_directory(out_dir)) {
    throw std::runtime_error(fmt::format("cannot create output folder {}: {}", out_dir, ec.message()));
  }
  const std::string run_file = (fs::path(out_dir) / "run.json").string();
  ojson run;
  run["model"] = fs::absolute(model.path()).lexically_normal().string();
  run["model_name"] = model.config().name;
  run["model_fingerprint"] = file_fingerprint_hex(model.path());  // rows of another model must not mix in
  run["sets"] = ojson::array();
  for (const EvalSet& set : sets) run["sets"].push_back(fs::absolute(set.folder).lexically_normal().string());
  if (fs::exists(run_file)) {
    std::ifstream in(run_file);
    ojson old;
    try {
      old = ojson::parse(in);
    } catch (const ojson::parse_error&) {
      throw std::runtime_error(run_file + ": not valid JSON; use another --out or remove it");
    }
    if (old.value("model_fingerprint", "") != run["model_fingerprint"].get<std::string>()) {
      throw std::runtime_error(fmt::format(
          "{} holds rows of another model ({}, {}); use another --out or remove the folder", out_dir,
          old.value("model_name", "?"), old.value("model", "?")));
    }
  }
  write_file_atomically(run_file, run.dump(2) + "\n", "run.json");
}

}  // namespace

EvalRun::EvalRun(std::shared_ptr<const Model> model, std::vector<EvalSet> sets, EvalOptions options,
                 std::string out_dir, ProcessGroup* group)
    : model_(std::move(model)),
      sets_(std::move(sets)),
      options_(std::move(options)),
      out_dir_(std::move(out_dir)),
      group_(group) {
  TORCH_CHECK(model_ != nullptr, "EvalRun: model is null");
  if (options_.methods.empty()) throw std::invalid_argument("no methods to evaluate");
  if (options_.limit < 0) throw std::invalid_argument(fmt::format("--limit must be >= 0, got {}", options_.limit));
  if (options_.baseline.ig_steps < 1) {
    throw std::invalid_argument(fmt::format("--ig-steps must be >= 1, got {}", options_.baseline.ig_steps));
  }
  std::vector<std::string> unsupported;
  for (Method m : options_.methods) {
    if (method_needs_attentions(m) && !model_->capabilities().forward_with_attentions) {
      unsupported.push_back(method_name(m));
    }
  }
  if (!unsupported.empty()) {
    throw std::invalid_argument(fmt::format(
        "{}: model {} has no method forward_with_attentions(embeddings, modifier) (docs/optional_methods.md): {} cannot run; "
        "leave {} out of --methods",
        model_->path(), model_->config().name, fmt::join(unsupported, " and "),
        unsupported.size() > 1 ? "them" : "it"));
  }
  for (const EvalSet& set : sets_) {
    if (!set.items.empty() && set.items.front().kind == EvalItemKind::kImageMask && !model_->has_image()) {
      throw std::invalid_argument(fmt::format("model {} is text-only (config image is null): it cannot run the image "
                                              "task {} ({}); give --data a text task's folder",
                                              model_->config().name, set.task, set.folder));
    }
  }
  if (options_.settings.empty()) {
    options_.settings.push_back({options_.explain.suppression_factor, options_.explain.conceptual_threshold});
  }
  options_.explain.granularity = Granularity::kToken;

  if (group_ && !group_->is_root()) return;  // rank 0 alone reads and writes the output folder
  claim_output_folder(*model_, sets_, out_dir_);
}

EvalRun::~EvalRun() = default;

namespace {

// rows.jsonl's complete rows (the first of each key), rewriting rows.jsonl
// when a torn or unreadable line is dropped, and rows.csv from them.
std::vector<EvalRow> read_resumable_rows(const std::string& jsonl_path, const std::string& csv_path) {
  std::vector<EvalRow> existing;
  std::set<std::string> done_keys;
  std::ifstream in(jsonl_path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  bool torn = false;
  size_t at = 0;
  while (at < text.size()) {
    const size_t end = text.find('\n', at);
    if (end == std::string::npos) {
      torn = true;  // a last line without its newline: a killed run
      break;
    }
    const std::string line = text.substr(at, end - at);
    at = end + 1;
    if (line.empty()) continue;
    try {
      EvalRow row = row_from_json(line);
      if (done_keys.insert(row_key(row.task, row.item, row.method, row.setting)).second) {
        existing.push_back(std::move(row));
      }
    } catch (const std::invalid_argument&) {
      torn = true;  // unreadable: dropped and computed again
    }
  }
  std::string jsonl, csv = csv_header() + "\n";
  for (const EvalRow& row : existing) {
    jsonl += row_to_json(row) + "\n";
    csv += row_to_csv(row) + "\n";
  }
  if (torn) write_file_atomically(jsonl_path, jsonl, "rows.jsonl");
  write_file_atomically(csv_path, csv, "rows.csv");
  return existing;
}

// The (method, setting) pairs of every item: atman once per setting.
std::vector<Unit> row_units(const EvalOptions& options) {
  std::vector<Unit> units;
  for (Method m : options.methods) {
    if (m == Method::kAtman) {
      for (const EvalSetting& s : options.settings) units.push_back({m, s, s.label()});
    } else if (m == Method::kIntegratedGradients) {
      // "steps=N" for the default rule (the label of runs before the rules were added).
      const std::vector<IgRule> rules = options.ig_rules.empty() ? std::vector<IgRule>{options.baseline.ig_rule}
                                                                 : options.ig_rules;
      for (IgRule rule : rules) {
        std::string label = fmt::format("steps={}", options.baseline.ig_steps);
        if (rule != IgRule::kRiemannMiddle) label += ",rule=" + ig_rule_name(rule);
        units.push_back({m, std::nullopt, label, rule});
      }
    } else {
      units.push_back({m, std::nullopt, "-"});
    }
  }
  return units;
}

int64_t selected_items(const EvalOptions& options, const EvalSet& set) {
  auto it = options.task_limits.find(set.task);
  const int64_t limit = it != options.task_limits.end() ? it->second : options.limit;
  return limit > 0 ? std::min<int64_t>(limit, set.items.size()) : static_cast<int64_t>(set.items.size());
}

// The rows of the selection, and how many of them rows.jsonl already holds.
void count_rows(const std::vector<EvalSet>& sets, const EvalOptions& options, const std::vector<Unit>& units,
                const std::map<std::string, const EvalRow*>& by_key, int64_t* total, int64_t* resumed) {
  for (const EvalSet& set : sets) {
    const int64_t n = selected_items(options, set);
    *total += n * static_cast<int64_t>(units.size());
    for (int64_t i = 0; i < n; ++i) {
      for (const Unit& u : units) *resumed += by_key.count(row_key(set.task, set.items[i].id, method_name(u.method), u.label));
    }
  }
}

// One item, prepared once for all its rows: the input, its ground truth and
// the clean model's answer; `error` instead when any of it fails.
struct PreparedItem {
  bool ok = false;
  std::string error;
  ExplainInput input;
  GroundTruth gt;
  CleanAnswer answer;
  std::shared_ptr<const PreparedInput> prepared;  // the sequence the removal operators work on
  std::shared_ptr<const Remover> remover;         // with --faithfulness
  std::optional<std::vector<double>> loo;         // LOO's map over gt.positions, when loo is a method
};

PreparedItem prepare_item(const Explainer& explainer, const EvalItem& item, const ExplainOptions& options) {
  const Model& model = explainer.model();
  PreparedItem item_out;
  try {
    item_out.input.prompt = item_prompt(model.config(), item);
    item_out.input.target = item.target;
    if (item.kind == EvalItemKind::kImageMask) item_out.input.image_rgb = read_image_rgb(item.image_path);
    ExplainOptions o = options;
    o.conceptual_threshold = std::nullopt;  // the prepared sequence only
    const PreparedInput prepared = explainer.prepare(item_out.input, o);
    if (item.kind == EvalItemKind::kImageMask) {
      item_out.gt = image_ground_truth(read_mask(item.mask_path), prepared.sequence, 0.25,
                                       model.config().image ? &*model.config().image : nullptr);
    } else {
      item_out.gt = text_ground_truth(model.tokenizer(), prepared.sequence, item.span_begin, item.span_end);
    }
    item_out.answer = clean_answer(model, prepared);
    item_out.prepared = std::make_shared<const PreparedInput>(prepared);
    item_out.ok = true;
  } catch (const std::exception& e) {
    item_out.error = e.what();
  }
  return item_out;
}

// The row's identity and its method's parameters; every figure NaN until measured.
EvalRow new_row(const EvalSet& set, const EvalItem& item, int64_t index, const Unit& u, int64_t ig_steps) {
  EvalRow row;
  row.task = set.task;
  row.item = item.id;
  row.index = index;
  row.method = method_name(u.method);
  row.setting = u.label;
  row.suppression_factor = u.setting ? u.setting->suppression_factor : kNaN;
  if (u.setting) row.conceptual_threshold = u.setting->conceptual_threshold;
  row.ig_steps = u.method == Method::kIntegratedGradients ? ig_steps : 0;
  if (u.method == Method::kIntegratedGradients) row.ig_method = ig_rule_name(u.ig_rule);
  row.ig_completeness_gap = row.loo_spearman = row.loo_kendall = kNaN;
  row.metrics = {kNaN, kNaN, kNaN, kNaN};
  row.seconds = kNaN;
  row.target_log_prob = kNaN;
  return row;
}

// The explanation's relevance at each ground-truth position.
std::vector<double> relevance_at(const Explanation& e, const std::vector<int64_t>& positions) {
  std::map<int64_t, double> relevance;
  for (const ExplainedUnit& unit : e.units) relevance[unit.index] = unit.relevance;
  std::vector<double> values;
  for (int64_t p : positions) {
    auto found = relevance.find(p);
    if (found == relevance.end()) throw std::runtime_error(fmt::format("position {} was not explained", p));
    values.push_back(found->second);
  }
  return values;
}

// examples/TASK/ITEM.METHOD.json (+ .png overlay for image items).
void write_example(const fs::path& dir, const EvalSet& set, const EvalItem& item, const std::string& method,
                   const ExplainInput& input, const Explanation& e) {
  const fs::path folder = dir / "examples" / safe_name(set.task);
  fs::create_directories(folder);
  const std::string stem = (folder / (safe_name(item.id) + "." + method)).string();
  write_file_atomically(stem + ".json", explanation_to_json(e), "json");
  if (!input.image_rgb.empty()) {
    write_overlay_png(e, input.image_rgb, overlay_caption(input.prompt + " [" + method + "]", input.target),
                      stem + ".png");
  }
  write_example_page(folder, safe_name(item.id), input.image_rgb, e);  // ITEM.html: every method so far
}

// rows.jsonl and rows.csv, appended and flushed after every row.
class RowAppender {
 public:
  RowAppender(std::string jsonl_path, const std::string& csv_path)
      : jsonl_path_(std::move(jsonl_path)),
        jsonl_(jsonl_path_, std::ios::app | std::ios::binary),
        csv_(csv_path, std::ios::app | std::ios::binary) {
    if (!jsonl_ || !csv_) throw std::runtime_error("cannot append to " + jsonl_path_ + " or " + csv_path);
  }
  void append(const EvalRow& row) {
    jsonl_ << row_to_json(row) << '\n';
    jsonl_.flush();
    csv_ << row_to_csv(row) << '\n';
    csv_.flush();
    if (!jsonl_ || !csv_) throw std::runtime_error("cannot append to " + jsonl_path_);
  }

 private:
  std::string jsonl_path_;
  std::ofstream jsonl_, csv_;
};

// What every row of a run shares.
struct RowContext {
  const Explainer& explainer;
  const EvalOptions& options;
  fs::path dir;
  AllocationMeter& meter;
};

// The figures beside the localisation metrics: IG's completeness gap, the
// rank correlations with LOO's map, the faithfulness curves.
void measure_faithfulness(const EvalOptions& options, const PreparedItem& item, const Explanation& e,
                          const std::vector<double>& values, EvalRow& row) {
  for (const auto& [key, value] : e.method_params) {
    if (key == "ig_completeness_gap") row.ig_completeness_gap = value;
  }
  if (item.loo) {
    row.loo_spearman = spearman(values, *item.loo);
    row.loo_kendall = kendall_tau_b(values, *item.loo);
  }
  if (item.remover && !item.gt.positions.empty()) {
    row.faithfulness = item_faithfulness(*item.remover, item.gt.positions, values, options.faithfulness_fractions);
  }
}

// What the rows of an item share beyond its input: the removal operators
// (with --faithfulness) and LOO's map (when loo is a method).
void add_references(const Explainer& explainer, const EvalOptions& options, PreparedItem& item) {
  if (!item.ok) return;
  try {
    const Model& model = explainer.model();
    if (options.faithfulness) item.remover = std::make_shared<const Remover>(model, item.input, *item.prepared);
    if (std::find(options.methods.begin(), options.methods.end(), Method::kLeaveOneOut) != options.methods.end()) {
      const at::Tensor loo = leave_one_out(model, item.input, *item.prepared).sum(1).contiguous();
      std::vector<double> values;
      for (int64_t p : item.gt.positions) values.push_back(loo[p].item<double>());
      item.loo = std::move(values);
    }
  } catch (const std::exception& e) {
    item.ok = false;
    item.error = e.what();
  }
}

// One missing row: the explanation timed and metered, its metrics against the
// item's ground truth, and the example files of the first items.
void measure_row(const RowContext& ctx, const Unit& u, const PreparedItem& item, bool keep_example,
                 const EvalSet& set, const EvalItem& eval_item, EvalRow& row) {
  row.positions = static_cast<int64_t>(item.gt.positions.size());
  row.truth_positions = std::count(item.gt.truth.begin(), item.gt.truth.end(), 1);
  row.target_log_prob = item.answer.log_prob;
  row.correct = item.answer.correct;
  ExplainOptions o = ctx.options.explain;
  if (u.setting) {
    o.suppression_factor = u.setting->suppression_factor;
    o.conceptual_threshold = u.setting->conceptual_threshold;
  }
  try {
    reset_resident_peak();
    ctx.meter.reset_peak();
    BaselineOptions baseline = ctx.options.baseline;
    baseline.ig_rule = u.ig_rule;
    const auto t0 = std::chrono::steady_clock::now();
    const Explanation e = explain_with_method(ctx.explainer, u.method, item.input, o, baseline);
    row.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    row.peak_mb = static_cast<double>(ctx.meter.peak_bytes_since_reset()) / (1024.0 * 1024.0);
    row.resident_peak_mb = resident_peak_mb();
    const std::vector<double> values = relevance_at(e, item.gt.positions);
    if (row.truth_positions > 0) row.metrics = compute_metrics(values, item.gt.truth);
    measure_faithfulness(ctx.options, item, e, values, row);
    if (keep_example) write_example(ctx.dir, set, eval_item, row.method, item.input, e);
  } catch (const std::exception& ex) {
    row.error = ex.what();
    row.metrics = {kNaN, kNaN, kNaN, kNaN};
  }
}

// Every method explains the task's first item once, untimed and not recorded
// (atman at the base setting only), so that TorchScript's first-call
// optimisation is not charged to the first row.
void warm_up(const RowContext& ctx, const std::vector<Unit>& units, const ExplainInput& input) {
  const std::string base_label = ctx.options.settings.front().label();
  for (const Unit& w : units) {
    if (w.setting && w.label != base_label) continue;
    try {
      explain_with_method(ctx.explainer, w.method, input, ctx.options.explain, ctx.options.baseline);
    } catch (const std::exception&) {
      // Reported by the row itself.
    }
  }
}

// A sharded run: rank 0's resumed rows on every rank (the others skip them).
std::vector<EvalRow> share_resumed_rows(ProcessGroup& group, const std::vector<EvalRow>& rows) {
  std::string text;
  if (group.is_root()) {
    for (const EvalRow& row : rows) text += row_to_json(row) + "\n";
  }
  text = group.broadcast("eval/resumed", text);
  if (group.is_root()) return rows;
  std::vector<EvalRow> out;
  size_t at = 0;
  while (at < text.size()) {
    const size_t end = text.find('\n', at);
    out.push_back(row_from_json(text.substr(at, end - at)));
    at = end + 1;
  }
  return out;
}

// Whether this rank measures item i of `set`: nobody does when all its rows
// are there; the first `examples` items are rank 0's (it writes their
// example files); any other goes to the first rank that claims it.
bool claim_item(ProcessGroup& group, const EvalOptions& options, const std::vector<Unit>& units,
                const std::map<std::string, const EvalRow*>& by_key, const EvalSet& set, int64_t i) {
  bool missing = false;
  for (const Unit& u : units) missing = missing || !by_key.count(row_key(set.task, set.items[i].id, method_name(u.method), u.label));
  if (!missing) return group.is_root();  // rank 0 lists the resumed rows
  if (i < options.examples) return group.is_root();
  return group.claim(fmt::format("eval/{}/{}", set.task, i));
}

// Waits until every rank has finished its items; rank 0 keeps taking rows
// meanwhile (`receive`), so that none waits in the store longer than needed.
std::vector<std::string> wait_for_ranks(ProcessGroup& group, const std::function<void()>& receive) {
  if (!group.is_root()) return group.exchange("eval/end", "");
  while (true) {
    receive();
    if (auto all = group.try_exchange("eval/end", "")) return *all;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// Progress of a run: rows done (resumed ones included) against the total.
struct RunProgress {
  const EvalProgressCallback& callback;
  int64_t done = 0;
  int64_t total = 0;
  int64_t resumed = 0;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();

  void report(const std::string& task, const std::string& method) const {
    if (!callback) return;
    EvalProgress p;
    p.done = done;
    p.total = total;
    p.resumed = resumed;
    p.elapsed_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    p.task = task;
    p.method = method;
    callback(p);
  }
};

// The row of unit `u` for item i of `set`, measured (or its error).
EvalRow evaluate_row(const RowContext& ctx, const Unit& u, const PreparedItem& prepared, const EvalSet& set,
                     int64_t i) {
  const EvalItem& item = set.items[i];
  EvalRow row = new_row(set, item, i, u, ctx.options.baseline.ig_steps);
  if (!prepared.ok) {
    row.error = prepared.error;
  } else {
    const bool keep_example =
        i < ctx.options.examples && (!u.setting || u.label == ctx.options.settings.front().label());
    measure_row(ctx, u, prepared, keep_example, set, item, row);
  }
  row.error = first_line(row.error, std::string::npos);
  return row;
}

// A sharded run's rows in the order of one process: resumed ones from
// `by_key`, the others from `measured` (every rank's).
std::vector<EvalRow> rows_in_order(const std::vector<EvalSet>& sets, const EvalOptions& options,
                                   const std::vector<Unit>& units, const std::map<std::string, const EvalRow*>& by_key,
                                   const std::map<std::string, EvalRow>& measured) {
  std::vector<EvalRow> rows;
  for (const EvalSet& set : sets) {
    for (int64_t i = 0; i < selected_items(options, set); ++i) {
      for (const Unit& u : units) {
        const std::string key = row_key(set.task, set.items[i].id, method_name(u.method), u.label);
        if (auto it = by_key.find(key); it != by_key.end()) {
          rows.push_back(*it->second);
        } else if (auto m = measured.find(key); m != measured.end()) {
          rows.push_back(m->second);
        } else {
          throw std::runtime_error(fmt::format("the sharded run ended without the row {} of item {} ({}, {})",
                                               set.task, set.items[i].id, method_name(u.method), u.label));
        }
      }
    }
  }
  return rows;
}

void write_summary(const fs::path& dir, const std::vector<SummaryRow>& summary) {
  write_file_atomically((dir / "summary.json").string(), summary_to_json(summary), "summary.json");
  write_file_atomically((dir / "summary.csv").string(), summary_to_csv(summary), "summary.csv");
  write_file_atomically((dir / "summary.md").string(), format_summary_markdown(summary), "summary.md");
}

// Where measured rows go: rank 0 (or the only process) appends each to
// rows.jsonl at once and keeps it; another rank sends it to rank 0.
class RowSink {
 public:
  RowSink(ProcessGroup* group, std::optional<RowAppender>& appender, RunProgress& tally,
          std::vector<EvalRow>& selected)
      : group_(group), appender_(appender), tally_(tally), selected_(selected) {}

  void put(const EvalRow& row) {
    if (group_ && !group_->is_root()) {
      group_->send_to_root(row_to_json(row));
      return;
    }
    record(row);
    receive();
  }

  // Rank 0 of a sharded run: the rows other ranks have sent so far.
  void receive() {
    if (!group_ || !group_->is_root()) return;
    for (const std::string& line : group_->receive_at_root()) record(row_from_json(line));
  }

  // Every row measured in a sharded run, by row_key.
  const std::map<std::string, EvalRow>& measured() const { return measured_; }

 private:
  void record(const EvalRow& row) {
    appender_->append(row);
    if (group_) {
      measured_[row_key(row.task, row.item, row.method, row.setting)] = row;
    } else {
      selected_.push_back(row);
    }
    ++tally_.done;
    tally_.report(row.task, row.method);
  }

  ProcessGroup* group_;
  std::optional<RowAppender>& appender_;
  RunProgress& tally_;
  std::vector<EvalRow>& selected_;
  std::map<std::string, EvalRow> measured_;
};

// Measures every missing row of the items this process takes (all of them
// without a group), in item order; resumed rows go straight to `selected`.
void measure_items(const RowContext& ctx, const std::vector<EvalSet>& sets, const std::vector<Unit>& units,
                   const std::map<std::string, const EvalRow*>& by_key, ProcessGroup* group, RowSink& sink,
                   std::vector<EvalRow>& selected) {
  const EvalOptions& options = ctx.options;
  for (const EvalSet& set : sets) {
    bool warmed_up = !options.warm_up;
    for (int64_t i = 0; i < selected_items(options, set); ++i) {
      std::optional<PreparedItem> prepared;  // only when a row of this item is missing
      if (group && !claim_item(*group, options, units, by_key, set, i)) continue;  // another rank's
      for (const Unit& u : units) {
        if (auto it = by_key.find(row_key(set.task, set.items[i].id, method_name(u.method), u.label));
            it != by_key.end()) {
          selected.push_back(*it->second);
          continue;
        }
        if (!prepared) {
          prepared = prepare_item(ctx.explainer, set.items[i], options.explain);
          add_references(ctx.explainer, options, *prepared);
        }
        if (!warmed_up && prepared->ok) {
          warmed_up = true;
          warm_up(ctx, units, prepared->input);
        }
        sink.put(evaluate_row(ctx, u, *prepared, set, i));
      }
    }
  }
}

}  // namespace

std::vector<SummaryRow> EvalRun::run(const EvalProgressCallback& progress) {
  const fs::path dir(out_dir_);
  const std::string jsonl_path = (dir / "rows.jsonl").string();
  const std::string csv_path = (dir / "rows.csv").string();
  const bool root = !group_ || group_->is_root();
  std::vector<EvalRow> existing;
  if (root) existing = read_resumable_rows(jsonl_path, csv_path);  // resume
  if (group_) existing = share_resumed_rows(*group_, existing);
  std::map<std::string, const EvalRow*> by_key;
  for (const EvalRow& row : existing) by_key[row_key(row.task, row.item, row.method, row.setting)] = &row;

  const std::vector<Unit> units = row_units(options_);
  RunProgress tally{progress};
  count_rows(sets_, options_, units, by_key, &tally.total, &tally.resumed);
  tally.done = tally.resumed;
  std::optional<RowAppender> appender;
  if (root) appender.emplace(jsonl_path, csv_path);

  Explainer explainer(model_);
  set_threads(options_.explain.threads);
  AllocationMeter meter;
  const RowContext ctx{explainer, options_, dir, meter};
  tally.report("", "");
  selected_.clear();
  RowSink sink(group_, appender, tally, selected_);
  measure_items(ctx, sets_, units, by_key, group_, sink, selected_);
  if (group_) {
    // Every rank has sent its rows: rank 0 takes the last ones and puts the
    // selection back in order (rows measured elsewhere included).
    wait_for_ranks(*group_, [&] { sink.receive(); });
    if (!root) return {};
    sink.receive();
    selected_ = rows_in_order(sets_, options_, units, by_key, sink.measured());
  }

  const std::vector<SummaryRow> summary =
      summarize(selected_, options_.bootstrap_resamples, options_.bootstrap_seed);
  write_summary(dir, summary);
  return summary;
}

}  // namespace atman
