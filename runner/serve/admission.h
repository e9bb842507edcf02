#pragma once
// The service's worker pool: at most `workers` requests compute at once and at
// most `queue` more wait for a worker; a request beyond both is refused at
// once (503 with Retry-After) rather than left to hang.

#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace atman::serve {

class Admission {
 public:
  Admission(int64_t workers, int64_t queue) : workers_(workers), queue_(queue) {}

  /// Holds a worker for its lifetime; waits in the queue for one. Throws
  /// ApiError 503 when the queue is full, 503 when the service is stopping.
  class Ticket {
   public:
    explicit Ticket(Admission& admission);
    ~Ticket();
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;

   private:
    Admission& admission_;
  };

  int64_t running() const;
  int64_t waiting() const;

 private:
  const int64_t workers_;
  const int64_t queue_;
  mutable std::mutex mutex_;
  std::condition_variable freed_;
  int64_t running_ = 0;
  int64_t waiting_ = 0;
};

}  // namespace atman::serve
