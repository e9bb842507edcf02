#include "atman/runtime/interrupt.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

namespace atman {
namespace {

// One word of state, changed only by compare-and-swap, so that the signal
// handler (any thread) and the writers agree without locks:
//   bit 0        the process is exiting (whoever set it prints and _exits)
//   bits 1..7    a held signal's number
//   bits 8..     the number of open InterruptDeferral sections
constexpr uint32_t kExiting = 1;
constexpr uint32_t kSignalShift = 1;
constexpr uint32_t kSignalMask = 0x7f << kSignalShift;
constexpr uint32_t kSection = 1 << 8;
std::atomic<uint32_t> g_state{0};
static_assert(std::atomic<uint32_t>::is_always_lock_free, "the handler needs a lock-free word");

// The outputs, in fixed storage the handler can read without allocating.
// A slot's text is written only inside a deferral section, before its status
// becomes kPending; the handler reads it only outside every section.
constexpr int kSlots = 32;
constexpr size_t kText = 1024;
enum SlotStatus : int { kFree = 0, kPending = 1, kWritten = 2, kClaimed = 3 };
struct Slot {
  std::atomic<int> status{kFree};
  char path[kText] = {0};
  char what[32] = {0};
};
Slot g_slots[kSlots];
char g_program[64] = "atman";
char g_message[kSlots * (kText + 40) + 256];

// Async-signal-safe appending to g_message.
size_t append(size_t at, const char* text) {
  const size_t n = ::strlen(text);
  const size_t room = sizeof(g_message) - 1 - at;
  const size_t take = n < room ? n : room;
  ::memcpy(g_message + at, text, take);
  g_message[at + take] = '\0';
  return at + take;
}

const char* signal_name(int sig) {
  switch (sig) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    case SIGHUP: return "SIGHUP";
    default: return "a signal";
  }
}

// Prints the one line and ends the process. Async-signal-safe.
[[noreturn]] void finish(int sig) {
  size_t at = 0;
  at = append(at, g_program);
  at = append(at, ": error: interrupted by ");
  at = append(at, signal_name(sig));
  int pending = 0, written = 0;
  for (const Slot& slot : g_slots) {
    const int status = slot.status.load();
    if (status == kPending) {
      at = append(at, pending == 0 ? "; not written: " : ", ");
      at = append(at, slot.what);
      at = append(at, " ");
      at = append(at, slot.path);
      ++pending;
    } else if (status == kWritten) {
      ++written;
    }
  }
  if (pending > 0) {
    at = append(at, " (files already at those paths are unchanged)");
  } else if (written > 0) {
    at = append(at, " after every output was written");
  }  // else: no output was registered (none asked for, or a tool that does not register them)
  at = append(at, "\n");
  ssize_t ignored = 0;
  if (::isatty(STDERR_FILENO) == 1) ignored = ::write(STDERR_FILENO, "\r\033[K", 4);  // over a progress bar
  ignored = ::write(STDERR_FILENO, g_message, at);
  (void)ignored;
  ::_exit(128 + sig);
}

void on_signal(int sig) {
  uint32_t s = g_state.load();
  for (;;) {
    if (s & kExiting) return;  // another thread is already ending the process
    if (s >= kSection) {       // a file is being written: hold the signal
      if ((s & kSignalMask) != 0) return;
      if (g_state.compare_exchange_weak(s, s | (static_cast<uint32_t>(sig) << kSignalShift))) return;
    } else if (g_state.compare_exchange_weak(s, s | kExiting)) {
      finish(sig);
    }
  }
}

void copy_text(char* to, size_t size, const std::string& from) {
  const size_t n = from.size() < size - 1 ? from.size() : size - 1;
  ::memcpy(to, from.data(), n);
  to[n] = '\0';
}

}  // namespace

void install_interrupt_handlers(const char* program) {
  copy_text(g_program, sizeof(g_program), program ? program : "atman");
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &action, nullptr);
}

InterruptDeferral::InterruptDeferral() {
  uint32_t s = g_state.load();
  for (;;) {
    if (s & kExiting) {
      for (;;) ::pause();  // the process is ending; never come back into a write
    }
    if (g_state.compare_exchange_weak(s, s + kSection)) return;
  }
}

InterruptDeferral::~InterruptDeferral() {
  uint32_t s = g_state.load();
  for (;;) {
    const uint32_t left = s - kSection;
    const int held = static_cast<int>((left & kSignalMask) >> kSignalShift);
    if (left < kSection && held != 0) {
      if (g_state.compare_exchange_weak(s, (left & ~kSignalMask) | kExiting)) finish(held);
    } else if (g_state.compare_exchange_weak(s, left)) {
      return;
    }
  }
}

void register_pending_output(const std::string& path, const std::string& what) {
  InterruptDeferral defer;
  for (Slot& slot : g_slots) {
    const int status = slot.status.load();
    if ((status == kPending || status == kWritten) && path.compare(0, kText - 1, slot.path) == 0) {
      slot.status.store(kPending);  // written before, pending again
      return;
    }
  }
  for (Slot& slot : g_slots) {
    int expected = kFree;
    if (slot.status.compare_exchange_strong(expected, kClaimed)) {
      copy_text(slot.path, sizeof(slot.path), path);
      copy_text(slot.what, sizeof(slot.what), what);
      slot.status.store(kPending);
      return;
    }
  }
  // More outputs than slots: the rest are not named in the message.
}

void mark_output_written(const std::string& path) {
  InterruptDeferral defer;
  for (Slot& slot : g_slots) {
    if (slot.status.load() == kPending && path.compare(0, kText - 1, slot.path) == 0) slot.status.store(kWritten);
  }
}

}  // namespace atman
