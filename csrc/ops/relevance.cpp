#include "relevance.h"

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <fmt/format.h>
#include <torch/library.h>

#include "atman/core/explainer.h"
#include "atman/core/sweep.h"
#include "errors.h"

namespace atman::ops {
namespace {

bool is_float(const at::Tensor& t) { return t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble; }

}  // namespace

at::Tensor relevance_cpu(const at::Tensor& clean_ce, const at::Tensor& perturbed_ce) {
  const char* fn = "relevance";
  if (!clean_ce.defined() || clean_ce.dim() != 1 || !is_float(clean_ce) || !clean_ce.device().is_cpu()) {
    throw_one_line(fmt::format("{}: expected clean_ce float32 or float64 [T] on the CPU, got {}", fn,
                               describe(clean_ce)));
  }
  if (!perturbed_ce.defined() || perturbed_ce.dim() != 2 || !is_float(perturbed_ce) ||
      !perturbed_ce.device().is_cpu()) {
    throw_one_line(fmt::format("{}: expected perturbed_ce float32 or float64 [N, T] on the CPU, got {}", fn,
                               describe(perturbed_ce)));
  }
  if (perturbed_ce.size(1) != clean_ce.size(0)) {
    throw_one_line(fmt::format("{}: perturbed_ce {} does not match clean_ce {}: T must be the same", fn,
                               describe(perturbed_ce), describe(clean_ce)));
  }
  if (clean_ce.size(0) == 0) throw_one_line(fmt::format("{}: expected at least one target token, got T = 0", fn));
  return with_one_line_errors([&] {
    at::NoGradGuard no_grad;
    const int64_t rows = perturbed_ce.size(0);
    std::vector<WorkResult> results;
    if (rows > 0) results.push_back({WorkUnit{0, rows}, perturbed_ce.detach().to(at::kDouble)});
    return gather_relevance(results, rows, clean_ce.detach());
  });
}

at::Tensor relevance(const at::Tensor& clean_ce, const at::Tensor& perturbed_ce) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("atman::relevance", "")
                       .typed<at::Tensor(const at::Tensor&, const at::Tensor&)>();
  return op.call(clean_ce, perturbed_ce);
}

TORCH_LIBRARY_IMPL(atman, CPU, m) {
  m.impl("relevance", TORCH_FN(relevance_cpu));
}

}  // namespace atman::ops
