#include "search_space/text_file.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "search_space/error.h"

namespace srnas {

namespace fs = std::filesystem;

void write_text_atomic(const std::string& path, const std::string& text) {
  static std::atomic<unsigned> counter{0};
  const std::string tmp = fmt::format("{}.tmp.{}.{}", path, static_cast<long>(::getpid()), counter.fetch_add(1));
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(fmt::format("{}: cannot write: cannot create {}", path, tmp));
    out << text;
    out.close();
    if (!out) {
      std::error_code ignore;
      fs::remove(tmp, ignore);
      throw Error(fmt::format("{}: cannot write: write to {} failed", path, tmp));
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    std::error_code ignore;
    fs::remove(tmp, ignore);
    throw Error(fmt::format("{}: cannot write: rename from {} failed: {}", path, tmp, ec.message()));
  }
}

}  // namespace srnas
