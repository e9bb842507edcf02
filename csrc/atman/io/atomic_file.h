#pragma once
// Writing output files so that a reader never sees a partial one: the bytes go
// to a temporary sibling in the destination folder, are flushed to disk, and
// the sibling is renamed over the destination.
//
// Usage:
//   atman::check_output_path("/tmp/out/overlay.png", "overlay");  // before the sweep
//   ...
//   atman::write_file_atomically("/tmp/out/overlay.png", png_bytes, "overlay");

#include <string>

namespace atman {

/// Writes `bytes` to `path` atomically: a temporary file `.NAME.tmp-...` in
/// the same folder is written, fsync'ed and renamed onto `path`; the folder is
/// then fsync'ed (best effort). On any failure the temporary file is removed,
/// `path` is left as it was, and std::runtime_error is thrown with one line
/// naming what was written, the path and the reason, e.g.
/// "cannot write overlay: /nope/x.png: No such file or directory".
/// `what` names the output in that message ("json", "overlay", "html", ...).
void write_file_atomically(const std::string& path, const std::string& bytes,
                           const std::string& what = "file");

/// Checks, without touching `path` itself, that an output could be written
/// there: `path` is not empty and not a folder, and its folder exists and
/// accepts a new file (probed by creating and removing a temporary sibling,
/// which also catches read-only file systems and root on them). Call it
/// before a long computation so that a bad path fails early. Throws
/// std::runtime_error with the same one-line message as write_file_atomically.
void check_output_path(const std::string& path, const std::string& what = "file");

}  // namespace atman
