#pragma once
// A memory budget for one run, checked before each expensive step (loading
// the model, decoding the image, the sweep), so that an input too big for it
// is refused with one line instead of being killed by the system.
//
// Usage:
//   atman::MemoryBudget budget(max_memory_mb);                    // 0: the machine's available memory
//   budget.require(std::filesystem::file_size(path) * 2, "loading the model m.pt");
//   ...
//   const atman::SweepMemory sweep = atman::estimate_sweep_memory(...);  // core/sweep_memory.h
//   budget.require(sweep.bytes(1), "the sweep at batch size 1");  // throws ResourceLimitError
//   options.batch_size = budget.largest_batch(sweep, 32);

#include <cstdint>
#include <stdexcept>
#include <string>


namespace atman {

/// Thrown when a step would exceed the budget; the message is one line.
struct ResourceLimitError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// a * b and a + b for sizes, saturating at INT64_MAX (configs of hostile
/// models may hold huge numbers); a product with a factor <= 0 is 0.
int64_t saturating_mul(int64_t a, int64_t b);
int64_t saturating_add(int64_t a, int64_t b);

/// The process's resident memory now (VmRSS), in bytes; 0 when /proc is unavailable.
int64_t resident_bytes();
/// The machine's available memory (MemAvailable of /proc/meminfo) in bytes; -1 when unknown.
int64_t available_bytes();

/// Upper estimate of the memory a sweep needs on top of the loaded model:
/// `fixed_bytes` once (embeddings, modifier rows, similarity matrix, results)
/// and `per_row_bytes` per modifier row of a batch (activations, attention
/// scores of one layer, logits).
struct SweepMemory {
  int64_t fixed_bytes = 0;
  int64_t per_row_bytes = 0;
  /// fixed + per_row x batch, saturating at INT64_MAX (a hostile config's estimate is already there).
  int64_t bytes(int64_t batch_size) const;
};


/// Upper estimate of the bytes needed to load a model file of `file_bytes`
/// (the archive's records are read, then the weights built from them).
int64_t estimate_model_load_bytes(int64_t file_bytes);

/// A limit on the process's resident memory.
class MemoryBudget {
 public:
  /// `max_memory_mb` > 0: that many MB (2^20 bytes) for the whole process;
  /// 0: what the process holds now plus the machine's available memory.
  explicit MemoryBudget(int64_t max_memory_mb);

  int64_t limit_bytes() const { return limit_bytes_; }
  /// True when the limit was given (--max-memory), false for the machine's memory.
  bool explicit_limit() const { return explicit_; }
  /// Bytes left now: the limit minus the resident memory (never negative).
  int64_t remaining_bytes() const;
  /// Throws ResourceLimitError when `bytes` more than what is resident now
  /// would exceed the limit, e.g. "loading the model m.pt needs about 312 MB
  /// more, but --max-memory 200 MB leaves 12 MB (the process holds 188 MB)".
  void require(int64_t bytes, const std::string& what) const;
  /// The largest batch size in [1, cap] whose sweep fits in what is left; 0 if none.
  int64_t largest_batch(const SweepMemory& sweep, int64_t cap) const;

 private:
  int64_t limit_bytes_ = 0;
  bool explicit_ = false;
};

}  // namespace atman
