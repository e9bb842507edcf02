#include "admission.h"

#include <fmt/format.h>

#include "api_error.h"

namespace atman::serve {

Admission::Ticket::Ticket(Admission& admission) : admission_(admission) {
  std::unique_lock<std::mutex> lock(admission_.mutex_);
  if (admission_.running_ >= admission_.workers_) {
    if (admission_.waiting_ >= admission_.queue_) {
      throw ApiError(503, fmt::format("the service is busy: {} requests computing and {} waiting (--queue {})",
                                      admission_.running_, admission_.waiting_, admission_.queue_));
    }
    ++admission_.waiting_;
    admission_.freed_.wait(lock, [&] { return admission_.running_ < admission_.workers_; });
    --admission_.waiting_;
  }
  ++admission_.running_;
}

Admission::Ticket::~Ticket() {
  {
    std::lock_guard<std::mutex> lock(admission_.mutex_);
    --admission_.running_;
  }
  admission_.freed_.notify_one();
}

int64_t Admission::running() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return running_;
}

int64_t Admission::waiting() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return waiting_;
}

}  // namespace atman::serve
