// libatman_ops.so seen from C++ the way Python sees it: dlopen'ed (never
// linked), ops reached through the dispatcher and TorchScript, compared with
// the direct calls of the core they wrap (label ops).

#include <dlfcn.h>

#include <string>

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <gtest/gtest.h>
#include <torch/custom_class.h>
#include <torch/jit.h>
#include <torch/script.h>

#include "atman/atman.h"
#include "atman/core/suppression.h"
#include "atman/core/sweep.h"
#include "test_util.h"

namespace atman {
namespace {

/// dlopen's the op library once per process (as torch.ops.load_library does).
void* load_ops_library() {
  static void* handle = [] {
    void* h = dlopen(ATMAN_OPS_LIBRARY, RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) ADD_FAILURE() << "dlopen " << ATMAN_OPS_LIBRARY << ": " << dlerror();
    return h;
  }();
  return handle;
}

c10::OperatorHandle op(const char* name) {
  load_ops_library();
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "");
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  } catch (const std::exception& e) {  // the TorchScript interpreter's error: traceback, then the line
    return e.what();
  }
  return "(no error)";
}

TEST(OpsLibraryTest, LoadsTwiceAndRegistersTheSchemas) {
  void* first = load_ops_library();
  ASSERT_NE(first, nullptr);
  void* second = dlopen(ATMAN_OPS_LIBRARY, RTLD_NOW | RTLD_LOCAL);
  EXPECT_EQ(second, first);  // the same library: static registration runs once
  EXPECT_EQ(c10::toString(op("atman::conceptual_modifiers").schema()),
            "atman::conceptual_modifiers(Tensor embeddings, Tensor positions, "
            "float suppression_factor=0.10000000000000001, float? conceptual_threshold=0.59999999999999998) -> Tensor");
  EXPECT_EQ(c10::toString(op("atman::relevance").schema()),
            "atman::relevance(Tensor clean_ce, Tensor perturbed_ce) -> Tensor");
  EXPECT_NE(torch::getCustomClass("__torch__.torch.classes.atman.Explainer"), nullptr);
}

TEST(OpsLibraryTest, ConceptualModifiersAgreeWithTheCore) {
  auto conceptual_modifiers =
      op("atman::conceptual_modifiers")
          .typed<at::Tensor(const at::Tensor&, const at::Tensor&, double, c10::optional<double>)>();
  at::manual_seed(11);
  const at::Tensor e = at::randn({9, 6});
  const at::Tensor sim = cosine_similarity_matrix(e);
  for (const c10::optional<double> kappa : {c10::optional<double>(0.2), c10::optional<double>()}) {
    const at::Tensor got = conceptual_modifiers.call(e, at::tensor({3, 0, 8}, at::kLong), 0.1, kappa);
    const at::Tensor want = modifier_rows(sim, 9, {{3}, {0}, {8}}, 0.1,
                                          kappa ? std::optional<double>(*kappa) : std::nullopt);
    EXPECT_TRUE(at::equal(got, want));
  }
}

TEST(OpsLibraryTest, RelevanceAgreesWithTheCore) {
  auto relevance = op("atman::relevance").typed<at::Tensor(const at::Tensor&, const at::Tensor&)>();
  const at::Tensor clean = at::rand({3}, at::kDouble);
  const at::Tensor perturbed = at::rand({5, 3}, at::kDouble);
  const at::Tensor want = gather_relevance({WorkResult{WorkUnit{0, 5}, perturbed}}, 5, clean);
  EXPECT_TRUE(at::equal(relevance.call(clean, perturbed), want));
}

TEST(OpsLibraryTest, ErrorsAreOneLineC10Errors) {
  auto relevance = op("atman::relevance").typed<at::Tensor(const at::Tensor&, const at::Tensor&)>();
  EXPECT_EQ(error_of([&] { relevance.call(at::zeros({2}), at::zeros({3, 4})); }),
            "relevance: perturbed_ce float32 [3, 4] does not match clean_ce float32 [2]: T must be the same");
  auto cm = op("atman::conceptual_modifiers")
                .typed<at::Tensor(const at::Tensor&, const at::Tensor&, double, c10::optional<double>)>();
  EXPECT_EQ(error_of([&] { cm.call(at::zeros({4, 2}), at::tensor({7}, at::kLong), 0.1, 0.6); }),
            "conceptual_modifiers: positions[0] = 7 is outside [0, 4) (4 embeddings)");
}

TEST(OpsLibraryTest, ScriptedExplainerAgreesWithTheCore) {
  load_ops_library();
  // Constructed as Python's torch.classes.atman.Explainer(path) does: the
  // class's __init__ on a fresh object.
  const c10::ClassTypePtr cls = torch::getCustomClass("__torch__.torch.classes.atman.Explainer");
  ASSERT_NE(cls, nullptr);
  auto make_explainer = [&](const std::string& path) {
    c10::IValue object(c10::ivalue::Object::create(c10::StrongTypePtr(nullptr, cls), 1));
    cls->getMethod("__init__")({object, path});
    return object;
  };
  auto cu = torch::jit::compile(R"(
def explain(explainer: __torch__.torch.classes.atman.Explainer, prompt: str, target: str):
    return explainer.explain(prompt, target, conceptual_threshold=None)
)");
  const std::string prompt = "Alice lives in Paris. Question: Where does Alice live? Answer:";
  const c10::IValue explainer = make_explainer(testing::test_model("text_only.pt"));
  const c10::IValue out = cu->run_method("explain", explainer, prompt, " Paris. Yes");
  const auto dict = c10::impl::toTypedDict<std::string, at::Tensor>(out.toGenericDict());

  Explainer direct(Model::load(testing::test_model("text_only.pt")));
  ExplainOptions options;
  options.conceptual_threshold = std::nullopt;
  const Explanation e = direct.explain({prompt, " Paris. Yes", cv::Mat()}, options);
  const at::Tensor relevance = dict.at("relevance");
  const at::Tensor kind = dict.at("kind");
  ASSERT_EQ(relevance.size(0), static_cast<int64_t>(e.units.size()));
  for (size_t i = 0; i < e.units.size(); ++i) {
    EXPECT_EQ(relevance[i].item<double>(), e.units[i].relevance) << "position " << i;
    EXPECT_EQ(kind[i].item<int64_t>(), static_cast<int64_t>(e.units[i].kind)) << "position " << i;
  }
  EXPECT_EQ(dict.at("target_ids").size(0), static_cast<int64_t>(e.targets.size()));

  EXPECT_NE(error_of([&] { cu->run_method("explain", explainer, prompt, ""); }).find("target is empty"),
            std::string::npos);
  EXPECT_EQ(error_of([&] { make_explainer("/no/such/model.pt"); }), "/no/such/model.pt: model file not found");
}

TEST(OpsLibraryTest, ContrastAndShapingThroughTheClass) {
  load_ops_library();
  const c10::ClassTypePtr cls = torch::getCustomClass("__torch__.torch.classes.atman.Explainer");
  ASSERT_NE(cls, nullptr);
  c10::IValue explainer(c10::ivalue::Object::create(c10::StrongTypePtr(nullptr, cls), 1));
  cls->getMethod("__init__")({explainer, testing::test_model("text_only.pt")});
  auto cu = torch::jit::compile(R"(
def plain(explainer: __torch__.torch.classes.atman.Explainer, prompt: str, target: str):
    return explainer.explain(prompt, target)
def contrast(explainer: __torch__.torch.classes.atman.Explainer, prompt: str, target: str, other: str, post: str):
    return explainer.explain(prompt, target, contrast=other, postprocess=post, normalize=True)
)");
  auto dict_of = [](const c10::IValue& v) { return c10::impl::toTypedDict<std::string, at::Tensor>(v.toGenericDict()); };
  const std::string prompt = "Alice lives in Paris. Bob lives in Rome. Question: Where does Alice live? Answer:";
  const auto a = dict_of(cu->run_method("plain", explainer, prompt, " Paris"));
  const auto b = dict_of(cu->run_method("plain", explainer, prompt, " Rome"));
  const auto c = dict_of(cu->run_method("contrast", explainer, prompt, " Paris", " Rome", "absolute"));
  // Rows: the prompt's positions; raw R = R_target - R_contrast, then |R| scaled to [0, 1].
  const at::Tensor raw = c.at("raw_relevance");
  const int64_t n = raw.size(0);
  ASSERT_LE(n, a.at("relevance").size(0));
  EXPECT_TRUE(at::equal(c.at("contrast_ids"), b.at("target_ids")));
  EXPECT_EQ(c.at("per_contrast").sizes(), (at::IntArrayRef{n, b.at("target_ids").size(0)}));
  const at::Tensor want = a.at("per_target").narrow(0, 0, n).sum(1) - b.at("per_target").narrow(0, 0, n).sum(1);
  EXPECT_LT((raw - want).abs().max().item<double>(), 1e-5 * want.abs().max().item<double>());
  const at::Tensor shaped = raw.abs();
  const at::Tensor scaled = (shaped - shaped.min()) / (shaped.max() - shaped.min());
  EXPECT_LT((c.at("relevance") - scaled).abs().max().item<double>(), 1e-12);
  EXPECT_NE(error_of([&] { cu->run_method("contrast", explainer, prompt, " Paris", " Rome", "cube"); })
                .find("postprocess must be none, absolute or square, got \"cube\""),
            std::string::npos);
  EXPECT_NE(error_of([&] { cu->run_method("contrast", explainer, prompt, " Paris", " Paris", "none"); })
                .find("nothing to contrast"),
            std::string::npos);
}

}  // namespace
}  // namespace atman
