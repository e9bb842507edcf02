#include "atman/io/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <stdexcept>
#include <system_error>

#include "atman/runtime/interrupt.h"

namespace atman {
namespace {

[[noreturn]] void fail(const std::string& what, const std::string& path, const std::string& reason) {
  throw std::runtime_error("cannot write " + what + ": " + path + ": " + reason);
}

std::string errno_text(int error) { return std::generic_category().message(error); }

// The folder part of `path` ("." when it has none) and the file name part.
void split_path(const std::string& path, std::string* folder, std::string* name) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) {
    *folder = ".";
    *name = path;
  } else {
    *folder = slash == 0 ? "/" : path.substr(0, slash);
    *name = path.substr(slash + 1);
  }
}

// Opens a new, uniquely named temporary file beside `path`; returns its fd and
// sets `temp_path`, or returns -1 with errno set.
int open_temporary_sibling(const std::string& path, std::string* temp_path) {
  static std::atomic<unsigned long> counter{0};
  std::string folder, name;
  split_path(path, &folder, &name);
  const std::string prefix = (folder == "/" ? "" : folder) + "/." + name + ".tmp-" +
                             std::to_string(static_cast<long>(::getpid())) + "-";
  const auto clock = static_cast<unsigned long>(
      std::chrono::steady_clock::now().time_since_epoch().count());
  for (int attempt = 0; attempt < 100; ++attempt) {
    *temp_path = prefix + std::to_string((clock + counter.fetch_add(1)) % 1000000007UL);
    // 0666 so that the final file gets the usual permissions after the umask.
    const int fd = ::open(temp_path->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0 || errno != EEXIST) return fd;
  }
  errno = EEXIST;
  return -1;
}

// Checks the parts of `path` that a rename onto it would otherwise report
// less clearly: empty, a trailing slash, an existing folder.
void check_destination(const std::string& path, const std::string& what) {
  if (path.empty()) throw std::runtime_error("cannot write " + what + ": the path is empty");
  if (path.back() == '/') fail(what, path, "the path names a folder, not a file");
  struct stat info {};
  if (::stat(path.c_str(), &info) == 0) {
    if (S_ISDIR(info.st_mode)) fail(what, path, "is a folder");
    // A rename would replace a device or pipe node itself (/dev/null, as root).
    if (!S_ISREG(info.st_mode)) fail(what, path, "exists and is not a regular file");
  }
}

}  // namespace

void write_file_atomically(const std::string& path, const std::string& bytes, const std::string& what) {
  // SIGINT/SIGTERM are held until the file is complete and renamed (or removed).
  InterruptDeferral defer;
  check_destination(path, what);
  std::string temp_path;
  const int fd = open_temporary_sibling(path, &temp_path);
  if (fd < 0) fail(what, path, errno_text(errno));

  auto give_up = [&](int error, bool close_fd) {
    if (close_fd) ::close(fd);
    ::unlink(temp_path.c_str());
    fail(what, path, errno_text(error));
  };

  const char* data = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    const ssize_t written = ::write(fd, data, left);
    if (written < 0) {
      if (errno == EINTR) continue;
      give_up(errno, true);
    }
    data += written;
    left -= static_cast<size_t>(written);
  }
  if (::fsync(fd) != 0) give_up(errno, true);
  if (::close(fd) != 0) give_up(errno, false);
  if (::rename(temp_path.c_str(), path.c_str()) != 0) give_up(errno, false);
  mark_output_written(path);

  // Make the rename itself durable; a failure here loses nothing already done.
  std::string folder, name;
  split_path(path, &folder, &name);
  const int folder_fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (folder_fd >= 0) {
    ::fsync(folder_fd);
    ::close(folder_fd);
  }
}

void check_output_path(const std::string& path, const std::string& what) {
  InterruptDeferral defer;  // the probe file is always removed
  check_destination(path, what);
  std::string folder, name;
  split_path(path, &folder, &name);
  struct stat info {};
  if (::stat(folder.c_str(), &info) != 0) fail(what, path, errno_text(errno));
  if (!S_ISDIR(info.st_mode)) fail(what, path, errno_text(ENOTDIR));
  std::string temp_path;
  const int fd = open_temporary_sibling(path, &temp_path);
  if (fd < 0) fail(what, path, errno_text(errno));
  ::close(fd);
  ::unlink(temp_path.c_str());
  register_pending_output(path, what);  // named if the run is interrupted (interrupt.h)
}

}  // namespace atman
